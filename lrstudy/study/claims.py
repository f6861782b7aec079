"""The reference reports' headline claims, each answered by the study's comparisons over test
images and seeds: confirmed, refuted or not resolved, with the power behind the answer computed
before looking.

The reports trained with Adam: a claim is answered by the grid's variant trained by Adam with
the claimed schedule, against a baseline trained by Adam too; a grid run under another optimizer
answers none."""

from dataclasses import dataclass

from lrstudy import inference
from lrstudy.core.optimizers import DEFAULT as REPORTS_OPTIMIZER
from lrstudy.core.outputs import markdown_table
from lrstudy.reporting.verdicts import p_text, within
from lrstudy.statistics import ALPHA
from lrstudy.study.analysis import ACCURACY, MEASURES, compared


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
    Claim(*EXP, ACCURACY, "higher final accuracy: 89.17 %, 1.14 points above fixed 0.001", 0.0114),
    Claim(
        *EXP,
        "epochs_to_target",
        "converges sooner: at its best by epoch 32, 18 epochs before fixed 0.001",
        -18,
    ),
    Claim(*EXP, "final_val_loss", "lower final loss: 0.1038 below fixed 0.001's", -0.1038),
    Claim(*STEP, ACCURACY, "higher final accuracy (setting and figure left blank)", None),
    Claim(*STEP, "epochs_to_target", "converges sooner (figure left blank)", None),
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


def answer(claim, test, margin):
    """confirmed (shown the claimed way against no difference; if the claimed size is ruled
    out, said so), refuted (shown the other way; the claimed size ruled out; for accuracy,
    shown within the margin) or not resolved."""
    measure = MEASURES[claim.measure]
    found = inference.direction(test, lower_is_better=measure.lower_is_better)
    p_size = None if claim.size is None else inference.p_short_of(test, claim.size)
    ruled_out = p_size is not None and p_size < ALPHA
    size = f"{measure.difference(claim.size)} ruled out ({p_text(p_size)})" if ruled_out else ""
    if found == "better":
        return f"{measure.gain}, as claimed, but {size}" if ruled_out else "confirmed"
    if found == "worse":
        return f"refuted: {measure.loss}"
    if ruled_out:
        return f"refuted: {size}"
    if claim.measure == ACCURACY and inference.outcome(test) == "equivalent":
        return f"refuted: equivalent within {within(margin)}"
    return "not resolved"


def claim_power(claim, design):
    """The power, computed before looking, to show the claimed size the claimed way at
    Benjamini-Hochberg's threshold for one variant that differs."""
    if claim.size is None:
        return "-"
    noise = design["noise"] if claim.measure == ACCURACY else design["runs_noise"][claim.measure]
    alpha = ALPHA / max(design["comparisons"], 1)
    return f"{100 * inference.power(claim.size, noise, alpha):.0f} %"


def here(claim, test):
    """The study's difference, with its 90 % interval."""
    if claim.measure == ACCURACY:
        return f"{compared(test)} points"
    measure, (low, high) = MEASURES[claim.measure], test["interval"]
    digits = measure.digits
    return f"{test['difference']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def claim_rows(ranking, tests, design, margin, variants, baseline):
    """One row per claim whose variant the grid has: the claim, the study's paired difference
    from the `baseline` with its 90 % interval, its adjusted p, the power for the claimed size
    (before looking) and the answer."""
    rows = []
    for claim in CLAIMS:
        name = claimed_variant(claim, ranking, variants, baseline)
        if name is None or claim.measure not in tests or name not in tests[claim.measure]:
            continue
        test = tests[claim.measure][name]
        rows.append(
            {
                "the reference reports' claim": f"{claim.schedule}: {claim.reported}",
                "variant": name,
                f"here, vs {baseline} (90 % interval)": here(claim, test),
                "p (BH)": f"{test['p_adjusted']:.3g}",
                "power for the claimed size": claim_power(claim, design),
                "answer": answer(claim, test, margin),
            }
        )
    return rows


def claims_note(ranking, tests, design, settings, variants, baseline):
    """The reference reports' claims and the study's answers, as a paragraph and a table."""
    margin = settings.margin_fraction
    rows = claim_rows(ranking, tests, design, margin, variants, baseline)
    if not rows:
        return []
    return [
        f"The reference reports' claims, tested against {baseline} on this data's folds "
        "(confirmed: shown the claimed way against no difference after Benjamini-Hochberg, "
        "the claimed size not ruled out; refuted: shown the other way, the claimed size ruled "
        f"out by a one-sided test at {ALPHA}, or for accuracy shown within "
        f"{within(margin)}; power: the chance, computed from {baseline} alone before looking, "
        f"to show the claimed size at {ALPHA} over the grid's comparisons):\n\n"
        + markdown_table(rows)
    ]
