"""How well the study's inference is calibrated on a committed grid's predictions.

    python -m lrstudy.study --grid reference --calibrate

Two simulations from metrics/study-<grid>-runs.json, each over PER_VARIANT halvings of each
variant's seeds (lrstudy/inference.py):

- A/A: a variant against itself under the other half of its seeds; the share rejected against
  no difference at 0.05 should be at most 0.05;
- planted: the same comparisons with a difference of the size the design calls detectable at
  80 % power planted in one half (images that the variant never got right, made right for
  every seed of that half); the share found should be at least the power stated for it.

tests/test_inference.py asserts both on the committed reference grid.
"""

import itertools
import math

import numpy as np

from lrstudy import inference
from lrstudy.core.errors import UserError
from lrstudy.statistics import ALPHA
from lrstudy.study import folds

MARGIN = 0.01
PER_VARIANT = 14  # halvings of each variant's seeds: 252 comparisons over the reference grid


def outcomes_of(results):
    """{variant: (seeds, images) right or wrong} of a grid of heads' raw results (those that did
    not diverge)."""
    if "folds" not in results:
        raise UserError(f"grid {results['grid']!r} has no runs on folds to calibrate on")
    shape = results["folds"]
    found = {name: folds.outcomes(shape, runs) for name, runs in results["runs"].items()}
    return {name: outcomes for name, outcomes in found.items() if outcomes is not None}


def halvings(seeds, count, rng):
    """`count` different splits of the seeds in two halves, as (first, second)."""
    firsts = [first for first in itertools.combinations(range(seeds), seeds // 2) if 0 in first]
    chosen = rng.choice(len(firsts), size=min(count, len(firsts)), replace=False)
    return [
        (list(firsts[index]), [seed for seed in range(seeds) if seed not in firsts[index]])
        for index in chosen
    ]


def comparisons(outcomes_by_variant, per_variant, seed=7):
    """[(a variant's outcomes, first half, second half)]: each variant against itself."""
    rng = np.random.default_rng(seed)
    return [
        (outcomes, first, second)
        for outcomes in outcomes_by_variant.values()
        for first, second in halvings(outcomes.shape[0], per_variant, rng)
    ]


def aa_rejections(pairs):
    """For each comparison, whether the test rejects no difference at ALPHA."""
    return [
        inference.compare_images(outcomes[first].astype(float) - outcomes[second], MARGIN)["p"]
        < ALPHA
        for outcomes, first, second in pairs
    ]


def planted(pairs, seed=11):
    """(found, stated): for each comparison where enough images are never right, whether a
    planted difference of the detectable size is found at ALPHA, and the power stated for it
    before planting (half the seeds a side)."""
    rng = np.random.default_rng(seed)
    found, stated = [], []
    for outcomes, first, second in pairs:
        images = outcomes.shape[1]
        noise = (2 * np.var(outcomes.mean(axis=1), ddof=1) / len(first), images)
        hard = np.flatnonzero(~outcomes.any(axis=0))
        count = max(1, math.ceil(inference.detectable(noise) * images))
        if count > len(hard):
            continue
        better = outcomes[first].copy()
        better[:, rng.choice(hard, count, replace=False)] = True
        test = inference.compare_images(better.astype(float) - outcomes[second], MARGIN)
        found.append(test["p"] < ALPHA)
        stated.append(inference.power(count / images, noise))
    return found, stated


def calibration(results):
    """The two simulations on a grid's raw results, in one line."""
    pairs = comparisons(outcomes_of(results), PER_VARIANT)
    rejected = aa_rejections(pairs)
    found, stated = planted(pairs)
    return (
        f"A/A: {len(rejected)} comparisons of a variant against itself under other seeds, "
        f"{sum(rejected)} rejected at {ALPHA} ({100 * np.mean(rejected):.1f} %); planted: "
        f"{len(found)} comparisons, the difference found in {100 * np.mean(found):.1f} % "
        f"against a stated power of {100 * np.mean(stated):.1f} %"
    )
