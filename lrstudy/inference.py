"""Inference over test images and seeds: how sure a difference between two schedules is, when
both were trained on every fold with the same seeds and every image was tested once.

A comparison's data is a (seeds, images) array of paired differences, the folds' test images
side by side: for each seed and image, the variant's outcome minus the baseline's (1, 0 or -1
for right or wrong). Its estimate is the mean over images of the mean over seeds: the difference
in cross-validated accuracy. Images and seeds are crossed random factors (every seed's heads
judge every image), so the estimate's variance has three parts: which images were drawn, which
seeds trained the heads, and their interaction. From the two-way analysis of variance without
replication (Owen 2007, "The pigeonhole bootstrap", Ann. Appl. Stat. 1(2)):

    var = (MS_images + MS_seeds) / (images * seeds)

where MS_images, the mean square of the images' means over seeds, carries the images' part and
the interaction, and MS_seeds, that of the seeds' means over images, the seeds' part and the
interaction again. The unbiased estimate subtracts the interaction's mean square once; counting
it twice, as a bootstrap resampling images and seeds would, keeps the test at or below its
level with five to ten seeds a side (tests/test_inference.py: the unbiased one rejected a
variant against itself under other seeds in 6 % of the reference grid's comparisons). The
degrees of freedom are Satterthwaite's (1946), so that a variance dominated by ten seeds is
read with a t of about nine. A seed's effect on its heads of all folds (they share its initial
weights) sits in its row mean, so it is counted. The folds' training sets are not resampled:
the inference is about models trained on these images, as the study's question is ("on this
data").

A difference is judged against a margin m (`verdicts.margin`), in this order: beyond the margin
(better or worse: the one-sided test that it exceeds +m, or falls below -m), inside it
(equivalent: both one-sided tests that it lies within +-m), else not resolved; the interval shown
is the 90 % one, whose ends are those one-sided tests at 5 %. Per-run measures (a run's final
loss, its epochs to a target) have no images: their paired differences, averaged over the folds
of each seed, are a paired t-test over the seeds.

The power of a design is computed before looking at any variant, from the baseline alone: the
seeds' part of the noise is that of two schedules that do not differ (twice the variance of the
baseline's per-seed accuracy, over the seeds), and a true difference d adds the image sampling of
the fewest images that make it (d x images images that only the variant gets right: d / images
to the variance); more images changing both ways add more, so the power stated is the most the
design allows. tests/test_inference.py calibrates both on committed predictions: a variant
against itself under other seeds rejects no more often than the level, and a planted difference
of the size stated detectable is found at least as often as stated.
"""

import math

import numpy as np
from scipy import optimize, stats

from lrstudy.statistics import ALPHA, POWER, adjust_p_values

SHOWN = 1 - 2 * ALPHA  # the interval shown: its ends are the one-sided tests at ALPHA
OUTCOMES = ("better", "worse", "equivalent", "not resolved")
DIGITS = 6  # significant


def rounded(value):
    return float(f"{float(value):.{DIGITS}g}")


def two_way(differences):
    """(estimate, standard error, degrees of freedom) of the mean of a (seeds, images) array,
    images and seeds crossed random factors, the interaction counted with each."""
    values = np.asarray(differences, dtype=float)
    seeds, images = values.shape
    mean = values.mean()
    parts = np.array(
        [
            seeds * np.var(values.mean(axis=0), ddof=1),  # MS_images
            images * np.var(values.mean(axis=1), ddof=1),  # MS_seeds
        ]
    ) / (images * seeds)
    variance = parts.sum()
    if variance == 0:
        return mean, 0.0, float(seeds - 1)
    freedom = np.array([images - 1, seeds - 1])
    return mean, math.sqrt(variance), variance**2 / np.sum(parts**2 / freedom)


def judged(estimate, error, freedom, margin=None):
    """A comparison: the difference, its 90 % interval, its standard error, the two-sided p
    against no difference and, given a margin, the p of a difference beyond it and of one
    within it (t with `freedom` degrees of freedom)."""
    t = stats.t(freedom)

    def above(threshold):
        """p against a true difference at most `threshold`."""
        if error == 0:
            return 0.0 if estimate > threshold else 1.0
        return t.sf((estimate - threshold) / error)

    def below(threshold):
        """p against a true difference at least `threshold`."""
        if error == 0:
            return 0.0 if estimate < threshold else 1.0
        return t.cdf((estimate - threshold) / error)

    half = t.ppf(1 - ALPHA) * error
    test = {
        "difference": rounded(estimate),
        "interval": [rounded(estimate - half), rounded(estimate + half)],
        "se": rounded(error),
        "df": rounded(freedom),
        "p": rounded(min(1.0, 2 * min(above(0), below(0)))),
    }
    if margin is not None:
        beyond = min(1.0, 2 * min(above(margin), below(-margin)))
        test |= {
            "p_beyond": rounded(beyond),
            "p_within": rounded(max(below(margin), above(-margin))),
        }
    return test


def compare_images(differences, margin):
    """The comparison of per-image paired differences (seeds, images) against the margin."""
    return judged(*two_way(differences), margin)


def compare_runs(differences):
    """The comparison of a per-run measure's paired differences (folds, seeds): each seed's mean
    over the folds, a paired t-test over the seeds; no margin."""
    per_seed = np.mean(np.asarray(differences, dtype=float), axis=0)
    error = np.std(per_seed, ddof=1) / math.sqrt(len(per_seed))
    return judged(per_seed.mean(), error, len(per_seed) - 1)


def adjust(tests):
    """Benjamini-Hochberg over the comparisons `tests` ({name: test}), each of its p values
    adjusted as `<p>_adjusted`; returns `tests`."""
    for key in ("p", "p_beyond", "p_within"):
        names = [name for name, test in tests.items() if key in test]
        adjusted = adjust_p_values([tests[name][key] for name in names])
        for name, value in zip(names, adjusted, strict=True):
            tests[name][f"{key}_adjusted"] = value
    return tests


def outcome(test):
    """better or worse (beyond the margin), equivalent (within it) or not resolved, from the
    adjusted p values."""
    if test["p_beyond_adjusted"] < ALPHA:
        return "better" if test["difference"] > 0 else "worse"
    if test["p_within_adjusted"] < ALPHA:
        return "equivalent"
    return "not resolved"


def direction(test, lower_is_better=False):
    """better or worse against no difference (adjusted), or None: no difference shown."""
    if test["p_adjusted"] >= ALPHA:
        return None
    gain = -test["difference"] if lower_is_better else test["difference"]
    return "better" if gain > 0 else "worse"


def design_noise(outcomes):
    """(the seeds' part of a comparison's variance, the images) before looking at any variant:
    from one schedule's right-or-wrong outcomes (seeds, images), twice the variance of its
    per-seed accuracy over the seeds (two schedules that do not differ)."""
    accuracy = np.asarray(outcomes, dtype=float).mean(axis=1)
    return 2 * np.var(accuracy, ddof=1) / len(accuracy), np.asarray(outcomes).shape[1]


def power(difference, noise, alpha=ALPHA):
    """The probability that a two-sided test at `alpha` finds a true `difference` (in accuracy)
    with the design's `noise` (design_noise): its standard error adds the image sampling of the
    fewest images that make the difference (normal approximation)."""
    seeds_part, images = noise
    error = math.sqrt(seeds_part + abs(difference) / images)
    if error == 0:
        return 1.0
    critical, shift = stats.norm.ppf(1 - alpha / 2), abs(difference) / error
    return rounded(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))


def detectable(noise, alpha=ALPHA, wanted=POWER):
    """The smallest true difference a two-sided test at `alpha` finds with probability `wanted`
    under the design's `noise`."""
    if power(1.0, noise, alpha) < wanted:
        return None
    return rounded(optimize.brentq(lambda d: power(d, noise, alpha) - wanted, 0.0, 1.0))


def design_runs(values):
    """The design noise of a per-run measure (folds, seeds), from the baseline alone: twice the
    variance of its per-seed means over the seeds (no images: compare_runs)."""
    per_seed = np.mean(np.asarray(values, dtype=float), axis=0)
    return 2 * np.var(per_seed, ddof=1) / len(per_seed), math.inf


def p_short_of(test, size):
    """p against a true difference at least as large as `size` (in its direction): small when
    the data rule a difference of that size out."""
    if test["se"] == 0:
        return 0.0 if abs(test["difference"]) < abs(size) else 1.0
    shift = (test["difference"] - size) / test["se"]
    t = stats.t(test["df"])
    return rounded(t.cdf(shift) if size > 0 else t.sf(shift))
