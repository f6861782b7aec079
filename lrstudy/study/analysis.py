"""A finished grid's numbers: every variant's summaries over seeds, its paired test against the
baseline, the ranking and the study table."""

from lrstudy.paths import repeats_file
from lrstudy.reporting.formatting import interval, loss_mean_std, mean_std
from lrstudy.statistics import compare_with_baseline, per_seed_results, summarize
from lrstudy.study.grid import BASELINE
from lrstudy.study.runner import read_experiment_json


def analyse(names):
    """Every seed's curves of the named experiments; per variant, the summaries over seeds of
    its final and best validation figures; and the paired tests against the baseline."""
    histories = {
        name: read_experiment_json(repeats_file("train"), name)["history"] for name in names
    }
    results = {name: per_seed_results(history) for name, history in histories.items()}
    summaries = {
        name: {key: summarize(values) for key, values in result.items()}
        for name, result in results.items()
    }
    tests = {}
    if BASELINE in results:
        finals = {name: result["final_val_accuracy"] for name, result in results.items()}
        tests = compare_with_baseline(finals, BASELINE)
    return histories, summaries, tests


def rank(summaries):
    """Variant names, best first: highest mean final val accuracy, ties to the lower mean final
    val loss."""
    return sorted(
        summaries,
        key=lambda name: (
            -summaries[name]["final_val_accuracy"]["mean"],
            summaries[name]["final_val_loss"]["mean"],
        ),
    )


def study_rows(summaries, tests, times, seeds):
    """The study table, best first: each variant's mean ± std over seeds, and its paired test
    against the baseline (blank on the baseline's own row)."""
    rows = []
    for name in rank(summaries):
        summary, test = summaries[name], tests.get(name)
        rows.append(
            {
                "variant": name,
                "seeds": seeds[name],
                "final val accuracy": mean_std(summary["final_val_accuracy"]),
                "its 95 % interval": interval(summary["final_val_accuracy"]),
                "best val accuracy": mean_std(summary["best_val_accuracy"]),
                "final val loss": loss_mean_std(summary["final_val_loss"]),
                f"vs {BASELINE} (points)": f"{100 * test['mean_difference']:+.2f}" if test else "",
                "p": f"{test['p_value']:.3g}" if test else "",
                "p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
                "wall time (s)": times.get(name, ""),
            }
        )
    return rows
