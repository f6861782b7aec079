"""Inference over test images and seeds (lrstudy/inference.py): the variance of a crossed design,
the order of outcomes against a margin, and the calibration the study's verdicts rest on, on
the committed predictions of the reference grid (lrstudy/study/calibration.py): a variant
against itself under other seeds rejects no more often than the level, and a planted difference
of the size the design calls detectable is found at least as often as its stated power."""

import numpy as np
import pytest

from lrstudy import inference
from lrstudy.statistics import ALPHA
from lrstudy.study.calibration import aa_rejections, comparisons, outcomes_of, planted
from lrstudy.study.results import read_results
from tests.helpers.sandbox import REPO_ROOT

MARGIN = 0.01


def test_the_variance_of_a_crossed_design_counts_images_seeds_and_their_interaction_twice():
    rng = np.random.default_rng(0)
    seeds, images, sigma = 10, 400, {"image": 0.3, "seed": 0.1, "noise": 0.5}
    interaction = sigma["noise"] ** 2 / (images * seeds)
    truth = sigma["image"] ** 2 / images + sigma["seed"] ** 2 / seeds + interaction
    estimates = []
    for _ in range(300):
        values = (
            rng.normal(0, sigma["image"], images)[None, :]
            + rng.normal(0, sigma["seed"], seeds)[:, None]
            + rng.normal(0, sigma["noise"], (seeds, images))
        )
        estimates.append(inference.two_way(values)[1] ** 2)
    # Conservative by one interaction term, as a bootstrap over both factors would be.
    assert np.mean(estimates) == pytest.approx(truth + interaction, rel=0.05)
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


def committed(grid):
    """{variant: outcomes} of a committed grid."""
    return outcomes_of(read_results(grid, REPO_ROOT))


def test_a_variant_against_itself_under_other_seeds_is_rejected_at_most_at_the_level():
    pairs = comparisons(committed("reference"), per_variant=14)
    assert len(pairs) >= 200
    assert np.mean(aa_rejections(pairs)) <= ALPHA


def test_a_planted_difference_of_the_detectable_size_is_found_at_its_stated_power():
    found, stated = planted(comparisons(committed("reference"), per_variant=14))
    assert len(found) >= 200
    assert np.mean(found) >= np.mean(stated) - 0.05
