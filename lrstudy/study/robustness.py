"""Robustness to the split: one split can flatter a schedule, so the best variants, the claims'
variants and the baseline run again on other split seeds, each as its own `dvc exp`
(`-S split.seed=S`), and each verdict is checked on every split."""

from lrstudy.core.outputs import markdown_table
from lrstudy.reporting.measures import ACCURACY, MEASURES
from lrstudy.statistics import outcome
from lrstudy.study.analysis import analyse
from lrstudy.study.grid import BASELINE


def split_name(name, split_seed):
    return f"{name}-split{split_seed}"


def rerun_variants(ranking, top, claimed):
    """The baseline, the `top` best other variants and the claims' variants, without repeats."""
    best = [name for name in ranking if name != BASELINE][:top]
    return list(dict.fromkeys([BASELINE, *best, *claimed]))


def split_runs(chosen, arguments, split_seeds):
    """[(experiment, dvc args)] of every chosen variant on every split seed. The features are
    the same on every split: only `split` and the heads run again."""
    return [
        (split_name(name, split_seed), [*arguments[name], "-S", f"split.seed={split_seed}"])
        for split_seed in split_seeds
        for name in chosen
    ]


def split_tests(split_histories, settings):
    """{split seed: {measure: {variant: paired test}}} of {split seed: {variant: history}},
    Benjamini-Hochberg over the variants rerun there; a split without the baseline, or with
    nothing to compare it with, is left out."""
    return {
        split_seed: analyse(histories, settings)[1]
        for split_seed, histories in split_histories.items()
        if BASELINE in histories and len(histories) > 1
    }


def robustness_rows(chosen, main_split_seed, main_tests, tests_by_split):
    """Per rerun variant: on each split its accuracy difference from the baseline and outcome,
    and whether the outcome is the same on every split."""
    rows = []
    for name in chosen:
        if name == BASELINE:
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


def robustness_sentence(rows, split_seeds, repeats):
    """What the reruns found, in one sentence before their table."""
    held = sum(row["holds on every split"] == "yes" for row in rows)
    return (
        f"Rerun on split seeds {', '.join(map(str, split_seeds))} ({len(rows)} variants and "
        f"{BASELINE}, {repeats} seeds each; on each rerun split, Benjamini-Hochberg over those "
        f"{len(rows)} comparisons): the accuracy outcome (points vs {BASELINE}) holds on every "
        f"split for {held} of the {len(rows)}."
    )


def robustness_note(chosen, repeats, tests, tests_by_split, split_seed):
    """The reruns on other splits as a paragraph and a table (none without reruns)."""
    if not tests_by_split:
        return []
    rows = robustness_rows(chosen, split_seed, tests, tests_by_split)
    return [
        robustness_sentence(rows, [split_seed, *tests_by_split], repeats)
        + "\n\n"
        + markdown_table(rows)
    ]
