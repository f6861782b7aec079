"""Any experiments of HEAD judged as the study judges its variants: `make compare`.

A user's experiments (`dvc exp run -S schedule.k=0.3 train`, or a sweep with DVC's own syntax,
`dvc exp run --queue -S 'schedule.k=0.2,0.3'` then `dvc queue start -j 2`) train the heads of
`train` on the same folds and seeds as HEAD's baseline, and keep each head's right or wrong on
every test image (metrics/train/folds.json). So each can be compared with HEAD's baseline
(stage `baseline`, metrics/baseline/folds.json of the commit) exactly as a grid's variant is:
paired by test image and seed, Benjamini-Hochberg over the experiments compared, the same
outcomes (analysis.py, lrstudy/inference.py). HEAD's own `train` is one of them.

An experiment is left out, with its reason, where such a comparison would not be one:
it has not succeeded (queued, running, failed); its baseline differs from HEAD's (it changed
what the baseline depends on: the data, the split, the head, the optimizer or the baseline's
rate); its `train` did not run with its own params (the run stopped before `train`); or its
heads were trained on other folds or seeds than HEAD's baseline.
"""

import json

import yaml

from lrstudy.core.config import parse_group
from lrstudy.core.errors import UserError
from lrstudy.core.paths import folds_file, model_file, summary_file
from lrstudy.core.schedules import PARAMS, SCHEDULES
from lrstudy.experiments import precedence
from lrstudy.inference import outcome
from lrstudy.reporting.verdicts import within
from lrstudy.statistics import ALPHA
from lrstudy.study import folds
from lrstudy.study.analysis import ACCURACY, analyse, compared, design_sentence, outcome_count
from lrstudy.study.analysis import rank as ranked
from lrstudy.study.reuse import flat

HEAD = "HEAD"
BASELINE_OUTPUT = folds_file("baseline").parent.as_posix()  # metrics/baseline, as dvc.lock has it
TRAIN_GROUPS = ("head", "train", "schedule")  # what `train` reads of params.yaml


def candidates(shown):
    """[(name, rev, data, state)] of HEAD and each of its experiments, from `dvc exp show
    --json`: HEAD first; an experiment that has rows in two states (a failed task beside its
    rerun) by its most advanced one."""
    head = next(commit for commit in shown if commit["rev"] != "workspace")
    found = {}
    for experiment in head.get("experiments") or []:
        rev = experiment["revs"][0]
        name = experiment.get("name") or rev["rev"][:7]
        # DVC's executor states, lower case: success, running, queued, failed
        state = ((experiment.get("executor") or {}).get("state") or "success").capitalize()
        if name not in found or precedence(state) < precedence(found[name][3]):
            found[name] = (name, rev["rev"], rev.get("data") or {}, state)
    return [(HEAD, head["rev"], head["data"], "Success"), *found.values()]


def params_of(data):
    """{group: {key: value}} of a revision's params.yaml."""
    return data.get("params", {}).get("params.yaml", {}).get("data", {})


def flat_params(data):
    """{group.key: value} of a revision's params.yaml (`finetune.schedule.name` for a nested
    one), numbers written as text read as numbers."""
    return flat(params_of(data))


def number(value):
    """1e-05 as 1e-05, 0.3 as 0.3: as variant names write it (`dvc exp run -S` may give text)."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def differences(params, head):
    """The params ({group.key: value}) in which an experiment differs from HEAD's: the schedule
    first, as variant names spell it (`step lr0.1 every3`), then the others as
    `group.key=value`."""
    changed = {key: value for key, value in params.items() if head.get(key) != value}
    family = params.get("schedule.name")
    shorts = {
        f"schedule.{key}": PARAMS[key].short
        for key in SCHEDULES.get(family, SCHEDULES["fixed"]).params
    }
    schedule = [str(family)] if "schedule.name" in changed else []
    schedule += [f"{shorts[key]}{number(value)}" for key, value in changed.items() if key in shorts]
    others = [f"{key}={value}" for key, value in changed.items() if not key.startswith("schedule.")]
    return " ".join(schedule + others)


def select(found, names=(), sweep=()):
    """Those of `found` (candidates) asked for: HEAD always; the experiments `names`, each of
    which must exist; of those (all, without names), with `sweep`, only the ones that differ from
    HEAD in no params but the sweep's (`schedule.k`)."""
    known = [entry[0] for entry in found[1:]]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(
            f"no experiment {', '.join(unknown)} of HEAD; its experiments: "
            f"{', '.join(known) or 'none'} (`dvc exp show`)"
        )
    head_params = flat_params(found[0][2])
    keys = set(head_params)
    outside = [key for key in sweep if key not in keys]
    if outside:
        raise UserError(f"--sweep {','.join(outside)}: no such param in params.yaml")
    chosen = [entry for entry in found[1:] if not names or entry[0] in names]
    if sweep:
        chosen = [
            entry
            for entry in chosen
            if {
                key for key, value in flat_params(entry[2]).items() if head_params.get(key) != value
            }
            <= set(sweep)
        ]
    return [found[0], *chosen]


def output_hash(data, path):
    return (data.get("outs", {}).get(path) or {}).get("hash")


def left_out_reason(name, data, state, head_data):
    """Why an experiment cannot be compared with HEAD's baseline, as its row in `dvc exp show`
    tells (its state, its baseline's hash), or None."""
    if state != "Success":
        return {
            "Queued": "queued, not run yet (`dvc queue start`)",
            "Running": "still running",
        }.get(state, f"failed (`dvc queue logs {name}`)")
    if output_hash(data, BASELINE_OUTPUT) != output_hash(head_data, BASELINE_OUTPUT):
        changed = differences(flat_params(data), flat_params(head_data)).split()
        changed = [word for word in changed if "=" in word]  # not the schedule's
        because = f": it changes {', '.join(changed)}" if changed else ""
        return f"its baseline is not HEAD's{because}"
    return None


def ran_its_params(data, lock):
    """Whether the experiment's `train` ran with its own params: those its dvc.lock (a dict)
    records against its params.yaml (PyYAML reads a `1e-05` there as text: flat reads it back)."""
    ran_with = lock.get("stages", {}).get("train", {}).get("params", {}).get("params.yaml", {})
    params = params_of(data)
    return flat({group: ran_with.get(group) for group in TRAIN_GROUPS}) == flat(
        {group: params.get(group) for group in TRAIN_GROUPS}
    )


def fine_tuned(data):
    """The test accuracy of an experiment's fine-tuned model, where its fine-tuning and
    evaluation are its own (`finetune` read the scheduled head its `train` wrote), else None."""
    path = model_file("scheduled").as_posix()
    deps = data.get("deps", {})
    if path not in deps or (deps[path] or {}).get("hash") != output_hash(data, path):
        return None
    metrics = data.get("metrics", {}).get(summary_file("evaluate").as_posix(), {})
    return (metrics.get("data") or {}).get("finetuned", {}).get("test_accuracy")


def read_lock(read, rev):
    """A revision's dvc.lock as a dict ({} where it has none)."""
    try:
        return yaml.safe_load(read("dvc.lock", rev)) or {}
    except FileNotFoundError:
        return {}


def baseline_label(head_data):
    """HEAD's baseline as the study names it: `HEAD's fixed-lr0.001`."""
    params = params_of(head_data)
    train, baseline = (parse_group(group, params[group]) for group in ("train", "baseline"))
    return f"{HEAD}'s {train.variant_name(baseline.schedule)}"


def head_baseline(read, head_rev):
    """(the folds' shape, the runs) of HEAD's baseline (metrics/baseline/folds.json)."""
    try:
        return folds.fold_runs(json.loads(read(folds_file("baseline").as_posix(), head_rev)))
    except FileNotFoundError:
        raise UserError(
            f"HEAD has no {folds_file('baseline').as_posix()}: `dvc repro`, then commit "
            "dvc.lock and metrics/"
        ) from None


def experiment_runs(entry, read, shape, head_data):
    """(its runs on the folds, None) of a candidate that can be compared with HEAD's baseline
    of `shape`, else (None, why not)."""
    name, rev, data, state = entry
    reason = left_out_reason(name, data, state, head_data)
    if reason is not None:
        return None, reason
    if not ran_its_params(data, read_lock(read, rev)):
        return None, "its `train` did not run with its params (the run stopped before `train`)"
    try:
        their_shape, runs = folds.fold_runs(json.loads(read(folds_file("train").as_posix(), rev)))
    except FileNotFoundError:
        return None, f"it has no {folds_file('train').as_posix()} (an older version's run)"
    if their_shape != shape:
        return None, (
            f"trained on other folds or seeds (seeds {their_shape['seeds']}) than HEAD's "
            f"baseline (seeds {shape['seeds']})"
        )
    return runs, None


def table_row(name, summary, test, data, head_params, is_baseline):
    """One experiment's row: its differences from HEAD, test accuracy, comparison, outcome and
    fine-tuned accuracy (the baseline's row has no comparison)."""
    finetuned = None if is_baseline else fine_tuned(data)
    gone = summary["diverged"]
    return {
        "experiment": name,
        "differs from HEAD": differences(flat_params(data), head_params),
        "test accuracy": "diverged" if gone else f"{100 * summary[ACCURACY]['mean']:.2f}",
        "vs baseline, 90 % interval": compared(test) if test else "",
        "p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
        "outcome": "diverged" if gone else outcome(test) if test else "",
        "fine-tuned": f"{100 * finetuned:.2f}" if finetuned is not None else "",
    }


def table_note(label, shape, tests, design, margin):
    """What the table's columns mean, the outcomes counted and what the design could find."""
    images, seeds = sum(shape["images"]["test"]), folds.seeds_of(shape)
    return (
        f"Each experiment against {label} (stage `baseline`), paired by test image and seed: "
        f"{len(shape['images']['test'])} folds x {seeds} seeds, every one of the {images} "
        "images tested once. test accuracy: the mean over images and seeds (%); the difference "
        "in points with its 90 % interval; p (BH) against no difference, Benjamini-Hochberg "
        f"over the {len(tests)} experiments compared; outcome: better or worse by more than "
        f"{within(margin)} (one-sided tests at {ALPHA}), else equivalent within it (two "
        "one-sided tests), else not resolved (lrstudy/inference.py); fine-tuned: the test "
        "accuracy of its fine-tuned model, where the experiment ran fine-tuning (%). "
        + (outcome_count(tests, label, margin) + " " if tests else "")
        + design_sentence(design, margin)
    )


def judge(shown, read, names=(), sweep=(), progress=iter):
    """Every selected experiment compared with HEAD's baseline: a dict with the `baseline`'s
    label, the `rows` (HEAD first, then best first), each experiment's `tests`, the `left_out`
    ({name: reason}) and the `note` under the table. `read(path, rev)` gives a file's text at a
    revision (dvc.api.read); `progress` wraps the experiments as they are read (a bar)."""
    found = select(candidates(shown), names, sweep)
    head_data = found[0][2]
    shape, baseline_runs = head_baseline(read, found[0][1])
    label = baseline_label(head_data)
    runs, left_out, data_of = {label: baseline_runs}, {}, {label: head_data}
    for entry in progress(found):
        their_runs, reason = experiment_runs(entry, read, shape, head_data)
        if reason is None:
            runs[entry[0]], data_of[entry[0]] = their_runs, entry[2]
        else:
            left_out[entry[0]] = reason
    verdicts = parse_group("verdicts", params_of(head_data)["verdicts"])
    summaries, tests, design = analyse(shape, runs, verdicts, label)
    tests = tests[ACCURACY]
    head_params = flat_params(head_data)
    order = sorted(ranked(summaries), key=lambda name: name != HEAD)  # HEAD, then best first
    return {
        "baseline": label,
        "rows": [
            table_row(
                name, summaries[name], tests.get(name), data_of[name], head_params, name == label
            )
            for name in order
        ],
        "tests": {name: tests[name] for name in order if name in tests},
        "left_out": left_out,
        "note": table_note(label, shape, tests, design, verdicts.margin_fraction),
    }
