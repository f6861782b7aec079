"""Inference over test images and seeds (lrstudy/inference.py): the variance of a crossed design,
the order of outcomes against a margin, and the calibration the study's verdicts rest on, on
the committed predictions of the reference grid: a variant against itself under other seeds
rejects no more often than the level, and a planted difference of the size the design calls
detectable is found at least as often as its stated power."""

import itertools
import json
import math

import numpy as np
import pytest

from lrstudy import inference
from lrstudy.statistics import ALPHA
from lrstudy.study import folds
from tests.helpers.sandbox import REPO_ROOT

MARGIN = 0.01


def test_the_variance_of_a_crossed_design_counts_images_seeds_and_their_interaction_once():
    rng = np.random.default_rng(0)
    seeds, images, sigma = 10, 400, {"image": 0.3, "seed": 0.1, "noise": 0.5}
    truth = sigma["image"] ** 2 / images + sigma["seed"] ** 2 / seeds
    truth += sigma["noise"] ** 2 / (images * seeds)
    estimates = []
    for _ in range(300):
        values = (
            rng.normal(0, sigma["image"], images)[None, :]
            + rng.normal(0, sigma["seed"], seeds)[:, None]
            + rng.normal(0, sigma["noise"], (seeds, images))
        )
        estimates.append(inference.two_way(values)[1] ** 2)
    assert np.mean(estimates) == pytest.approx(truth, rel=0.05)  # unbiased
    _, error, freedom = inference.two_way(np.ones((4, 30)))
    assert error == 0 and freedom == 3


def judged(difference, error, freedom=40):
    return inference.adjust({"v": inference.judged(difference, error, freedom, MARGIN)})["v"]


def test_outcomes_come_in_order_beyond_the_margin_within_it_or_not_resolved():
    assert inference.outcome(judged(0.03, 0.005)) == "better"
    assert inference.outcome(judged(-0.03, 0.005)) == "worse"
    # 0.3 points below, significantly, but well inside the margin: equivalent, not "worse".
    small = judged(-0.003, 0.001)
    assert small["p"] < ALPHA and inference.outcome(small) == "equivalent"
    assert inference.direction(small) == "worse"
    assert inference.outcome(judged(0.008, 0.005)) == "not resolved"  # straddles +1 point
    low, high = judged(0.01, 0.005)["interval"]
    assert high - low == pytest.approx(2 * 1.684 * 0.005, rel=0.01)  # 90 %, t with 40 df


def test_a_claimed_size_is_ruled_out_when_the_interval_stops_short_of_it():
    test = judged(0.002, 0.002)
    assert inference.p_short_of(test, 0.0114) < 0.001
    assert inference.p_short_of(judged(0.012, 0.002), 0.0114) > 0.5
    assert inference.p_short_of(judged(-1.0, 0.5), -18) < 0.001  # epochs: 18 sooner ruled out


def test_power_grows_with_the_difference_and_the_detectable_difference_has_it():
    noise = (1e-6, 1600)
    assert inference.power(0.002, noise) < inference.power(0.006, noise) < 1
    detectable = inference.detectable(noise)
    assert inference.power(detectable, noise) == pytest.approx(0.8, abs=1e-4)
    assert inference.detectable(noise, ALPHA / 17) > detectable


def committed_outcomes(grid="reference"):
    """{variant: (seeds, images) right or wrong} of a committed grid's runs file."""
    results = json.loads((REPO_ROOT / f"metrics/study-{grid}-runs.json").read_text())
    shape = results["folds"]
    found = {name: folds.outcomes(shape, runs) for name, runs in results["runs"].items()}
    return {name: outcomes for name, outcomes in found.items() if outcomes is not None}


def seed_splits(seeds, count, rng):
    """`count` different halvings of the seeds, as (first half, second half)."""
    halvings = [first for first in itertools.combinations(range(seeds), seeds // 2) if 0 in first]
    chosen = rng.choice(len(halvings), size=min(count, len(halvings)), replace=False)
    return [
        (list(halvings[index]), [s for s in range(seeds) if s not in halvings[index]])
        for index in chosen
    ]


def aa_comparisons(per_variant=14):
    """[(variant's outcomes, first half, second half)]: each variant of the reference grid
    against itself under the other half of its seeds."""
    rng = np.random.default_rng(7)
    return [
        (outcomes, first, second)
        for outcomes in committed_outcomes().values()
        for first, second in seed_splits(outcomes.shape[0], per_variant, rng)
    ]


def test_a_variant_against_itself_under_other_seeds_is_rejected_at_most_at_the_level():
    comparisons = aa_comparisons()
    assert len(comparisons) >= 200
    rejected = [
        inference.compare_images(outcomes[first].astype(float) - outcomes[second], MARGIN)["p"]
        < ALPHA
        for outcomes, first, second in comparisons
    ]
    assert np.mean(rejected) <= ALPHA


def test_a_planted_difference_of_the_detectable_size_is_found_at_its_stated_power():
    rng = np.random.default_rng(11)
    found, stated = [], []
    for outcomes, first, second in aa_comparisons():
        seeds, images = outcomes.shape
        # The design of this comparison, before planting: half the seeds a side.
        noise = (2 * np.var(outcomes.mean(axis=1), ddof=1) / len(first), images)
        size = inference.detectable(noise)
        # A better schedule: it gets right, with every seed, images this one never does.
        hard = np.flatnonzero(~outcomes.any(axis=0))
        planted = max(1, math.ceil(size * images))
        if planted > len(hard):
            continue
        better = outcomes[first].copy()
        better[:, rng.choice(hard, planted, replace=False)] = True
        test = inference.compare_images(better.astype(float) - outcomes[second], MARGIN)
        found.append(test["p"] < ALPHA)
        stated.append(inference.power(planted / images, noise))
    assert len(found) >= 200
    assert np.mean(found) >= np.mean(stated) - 0.05
