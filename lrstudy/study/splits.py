"""The split reruns: one split can flatter a schedule, so chosen variants (a plain grid's best,
the claims' and the baseline; a tuned grid's winners and the baseline) run again on other split
seeds, each as its own `dvc exp` (`-S split.seed=S`), and each verdict is checked on every
split."""

import time

from lrstudy.core.outputs import markdown_table
from lrstudy.experiments import succeeded
from lrstudy.reporting.measures import ACCURACY, MEASURES
from lrstudy.statistics import outcome
from lrstudy.study.analysis import analyse
from lrstudy.study.results import read_histories
from lrstudy.study.variants import Run


def split_name(name, split_seed):
    return f"{name}-split{split_seed}"


def rerun_variants(ranking, top, claimed, baseline):
    """The `baseline`, the `top` best other variants and the claims' variants, without
    repeats."""
    best = [name for name in ranking if name != baseline][:top]
    return list(dict.fromkeys([baseline, *best, *claimed]))


def split_runs(chosen, split_seeds):
    """[Run] of every chosen variant ([Run]) on every split seed. The features are the same on
    every split: only `split` and the heads run again."""
    return [
        Run(
            split_name(run.name, split_seed),
            (*run.arguments, "-S", f"split.seed={split_seed}"),
            run.targets,
        )
        for split_seed in split_seeds
        for run in chosen
    ]


def rerun_on_splits(runner, label, chosen, split_seed, splits):
    """Run the `chosen` variants ([Run]) again on the `splits - 1` split seeds after
    `split_seed`: {split seed: {variant: history}} (none when `splits` is 1)."""
    split_seeds = [split_seed + offset for offset in range(1, splits)]
    if not split_seeds:
        return {}
    runs = split_runs(chosen, split_seeds)
    started = time.monotonic()
    runner.run_variants(f"{label} on split seeds {', '.join(map(str, split_seeds))}", runs)
    print(f"study: the split reruns took {time.monotonic() - started:.0f} s")
    finished = succeeded([run.name for run in runs])
    histories = {}
    for seed in split_seeds:
        names = {split_name(run.name, seed): run.name for run in chosen}
        found = read_histories([rerun for rerun in names if rerun in finished])
        histories[seed] = {names[rerun]: history for rerun, history in found.items()}
    return histories


def split_tests(split_histories, settings, baseline):
    """{split seed: {measure: {variant: paired test}}} of {split seed: {variant: history}},
    Benjamini-Hochberg over the variants rerun there; a split without the `baseline`, or with
    nothing to compare it with, is left out."""
    return {
        split_seed: analyse(histories, settings, baseline)[1]
        for split_seed, histories in split_histories.items()
        if baseline in histories and len(histories) > 1
    }


def robustness_rows(chosen, main_split_seed, main_tests, tests_by_split, baseline):
    """Per rerun variant: on each split its accuracy difference from the `baseline` and
    outcome, and whether the outcome is the same on every split."""
    rows = []
    for name in chosen:
        if name == baseline:
            continue
        row, outcomes = {"variant": name}, []
        for split_seed, tests in {main_split_seed: main_tests, **tests_by_split}.items():
            test = tests[ACCURACY].get(name)
            if test is None:
                row[f"split {split_seed}"] = "not run"
                continue
            outcomes.append(outcome(test))
            difference = MEASURES[ACCURACY].difference(test["mean_difference"]).split()[0]
            row[f"split {split_seed}"] = f"{difference}, {outcomes[-1]}"
        row["holds on every split"] = "yes" if len(set(outcomes)) == 1 else "no"
        rows.append(row)
    return rows


def robustness_sentence(rows, split_seeds, repeats, baseline):
    """What the reruns found, in one sentence before their table."""
    held = sum(row["holds on every split"] == "yes" for row in rows)
    return (
        f"Rerun on split seeds {', '.join(map(str, split_seeds))} ({len(rows)} variants and "
        f"{baseline}, {repeats} seeds each; on each rerun split, Benjamini-Hochberg over those "
        f"{len(rows)} comparisons): the accuracy outcome (points vs {baseline}) holds on every "
        f"split for {held} of the {len(rows)}."
    )


def robustness_note(chosen, repeats, tests, tests_by_split, split_seed, baseline):
    """The reruns on other splits as a paragraph and a table (none without reruns)."""
    if not tests_by_split:
        return []
    rows = robustness_rows(chosen, split_seed, tests, tests_by_split, baseline)
    return [
        robustness_sentence(rows, [split_seed, *tests_by_split], repeats, baseline)
        + "\n\n"
        + markdown_table(rows)
    ]
