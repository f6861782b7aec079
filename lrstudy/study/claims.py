"""The reference reports' headline claims, each answered by the study's paired tests:
confirmed, refuted or inconclusive, with the power behind the answer.

The reports trained with Adam: a claim is answered by the grid's variant trained by Adam with
the claimed schedule, against a baseline trained by Adam too; a grid run under another optimizer
answers none."""

from dataclasses import dataclass

import numpy as np

from lrstudy.core.optimizers import DEFAULT as REPORTS_OPTIMIZER
from lrstudy.core.outputs import markdown_table
from lrstudy.reporting.measures import ACCURACY, MEASURES
from lrstudy.reporting.verdicts import within
from lrstudy.statistics import ALPHA, outcome, sign_flip_p


@dataclass(frozen=True)
class Claim:
    schedule: str  # as the reports name it
    name: str  # its schedule.name
    settings: dict | None  # its schedule's values; None: the grid's best variant of `name`
    measure: str
    reported: str  # the claim with the reports' own figures
    size: float | None  # the reported difference from fixed 0.001, in the measure's units


EXP = ("exp decay 0.01, k = 0.3", "exp", {"initial_lr": 0.01, "k": 0.3})
STEP = ("step decay, its best setting", "step", None)
CLAIMS = (
    Claim(*EXP, ACCURACY, "higher final accuracy: 89.17 % against 88.0 % (+1.17 points)", 0.0117),
    Claim(
        *EXP,
        "epochs_to_converge",
        "converges sooner: at its best by epoch 32, 18 epochs before fixed 0.001",
        -18,
    ),
    Claim(*EXP, "final_val_loss", "lower final loss: 0.1038 below fixed 0.001's", -0.1038),
    Claim(*STEP, ACCURACY, "higher final accuracy (setting and figure left blank)", None),
    Claim(*STEP, "epochs_to_converge", "converges sooner (figure left blank)", None),
    Claim(*STEP, "final_val_loss", "lower final loss (figure left blank)", None),
)


def claimed_variant(claim, ranking, variants, baseline):
    """The grid's variant a claim is about (the one with its settings, or the best with its
    schedule), trained by Adam as the reports' were, or None when the grid has none or its
    `baseline` is not Adam's. `variants`: {name: record} (results.py)."""

    def answers(name):
        record = variants[name]
        schedule = record["schedule"]
        return (
            name != baseline
            and record["optimizer"] == REPORTS_OPTIMIZER
            and schedule["name"] == claim.name
            and all(schedule.get(key) == value for key, value in (claim.settings or {}).items())
        )

    if baseline not in variants or variants[baseline]["optimizer"] != REPORTS_OPTIMIZER:
        return None
    return next((name for name in ranking if answers(name)), None)


def claimed_variants(ranking, variants, baseline):
    """The variants the claims are about that the grid has, in the claims' order."""
    found = (claimed_variant(claim, ranking, variants, baseline) for claim in CLAIMS)
    return list(dict.fromkeys(name for name in found if name))


def size_ruled_out(claim, test):
    """p of the one-sided sign-flip test that the true difference falls short of the reported
    one (None for a claim without a figure)."""
    if claim.size is None:
        return None
    shortfall = np.subtract(test["differences"], claim.size)
    return sign_flip_p(shortfall, "less" if claim.size > 0 else "greater")


def answer(claim, test, margin):
    """confirmed (significantly better the claimed way; if by less than reported, said so),
    refuted (significantly the other way; for accuracy, equivalent within the margin; or a
    difference as large as the reported one ruled out) or inconclusive."""
    measure = MEASURES[claim.measure]
    found = outcome(test, lower_is_better=measure.lower_is_better)
    p_size = size_ruled_out(claim, test)
    ruled_out = p_size is not None and p_size < ALPHA
    size = f"{measure.difference(claim.size)} ruled out (p = {p_size:.3g})" if ruled_out else ""
    if found == "better":
        return f"{measure.gain}, as claimed, but {size}" if ruled_out else "confirmed"
    if found == "worse":
        return f"refuted: {measure.loss}"
    if found == "equivalent":
        return f"refuted: equivalent within {within(margin)}"
    return f"refuted: {size}" if ruled_out else "inconclusive"


def on_other_splits(claim, name, found, margin, tests_by_split):
    """The claim's answer on each rerun split ('the same' when all agree with `found`; 'not
    rerun' when none has the variant)."""
    answers = {
        split_seed: answer(claim, tests[claim.measure][name], margin)
        for split_seed, tests in tests_by_split.items()
        if name in tests.get(claim.measure, {})
    }
    if not answers:
        return "not rerun"
    if set(answers.values()) == {found}:
        return "the same"
    return "; ".join(f"{split_seed}: {text}" for split_seed, text in answers.items())


def claim_rows(ranking, tests, margin, tests_by_split, variants, baseline):
    """One row per claim whose variant the grid has: the claim, the study's paired difference
    from the `baseline`, its adjusted p, the difference detectable with 80 % power, the answer,
    and whether the answer is the same on the rerun splits ({split seed: tests})."""
    rows = []
    for claim in CLAIMS:
        name = claimed_variant(claim, ranking, variants, baseline)
        if name is None or claim.measure not in tests or name not in tests[claim.measure]:
            continue
        measure, test = MEASURES[claim.measure], tests[claim.measure][name]
        detectable, found = test["detectable"], answer(claim, test, margin)
        rows.append(
            {
                "the reference reports' claim": f"{claim.schedule}: {claim.reported}",
                "variant": name,
                f"here, vs {baseline}": measure.difference(test["mean_difference"]),
                "p (BH)": f"{test['p_adjusted']:.3g}",
                "detectable": "none" if detectable is None else measure.size(detectable),
                "answer": found,
                "on the other splits": on_other_splits(claim, name, found, margin, tests_by_split),
            }
        )
    return rows


def claims_note(ranking, tests, settings, tests_by_split, variants, baseline):
    """The reference reports' claims and the study's answers, as a paragraph and a table."""
    margin = settings.margin_fraction
    rows = claim_rows(ranking, tests, margin, tests_by_split, variants, baseline)
    if not rows:
        return []
    return [
        "The reference reports' claims, tested against "
        f"{baseline} on this data (confirmed: significantly better the claimed way after "
        "Benjamini-Hochberg; refuted: significantly the other way, for accuracy equivalent "
        f"within {within(settings.margin_fraction)}, or the reported difference ruled out by a "
        "one-sided sign-flip test; detectable: the difference found with 80 % power at "
        f"{ALPHA}):\n\n" + markdown_table(rows)
    ]
