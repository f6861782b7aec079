"""What every stage uses, and nothing heavy: the typed params (config, schedules), the stages'
entry point (stage, quiet, errors), every path, how outputs are written and the datasets the
stages hand on."""
