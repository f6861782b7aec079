"""On-demand benchmarks (python -m bench.run); not part of the test suite."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as the stages do: no C++ info logs
