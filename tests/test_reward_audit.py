"""Reward models are proxies: accuracy against the noise ceiling, calibration, overoptimization, agreement."""
from __future__ import annotations

import numpy as np
import pytest

from prefkit.data import load_preferences
from prefkit.evaluate.agreement import agreement_by_slice, relabel_report
from prefkit.evaluate.overopt import fit_overoptimization
from prefkit.evaluate.reward_audit import (accuracy_stderr, calibration, length_correlation, longer_answer_accuracy,
                                           noise_ceiling, pairwise_accuracy)
from prefkit.worlds.bandit import Bandit, fit_reward

PREFS = "data/assistant/prefs"


@pytest.fixture(scope="module")
def bandit():
    return Bandit.random(k=8, x=20, seed=0, reward_scale=1.5)


def _scores(table, pairs):
    c, r, x = pairs
    return table[x, c], table[x, r]


def test_bt_reward_model_reaches_the_ceiling_and_is_calibrated(bandit):
    train = bandit.sample_pairs(40_000, seed=1, temperature=1.0)
    test = bandit.sample_pairs(20_000, seed=2, temperature=1.0)
    table = fit_reward(bandit, train, steps=400)
    acc = pairwise_accuracy(*_scores(table, test))
    c, r, x = test
    gaps = bandit.rewards[x, c] - bandit.rewards[x, r]  # gold gap of the labelled pair (chosen minus rejected)
    ceiling = noise_ceiling(gold_gaps=gaps, temperature=1.0)
    exact_gaps, weights = bandit.pair_gaps()  # the exact average over the pair distribution
    assert ceiling == pytest.approx(noise_ceiling(0.0, exact_gaps, 1.0, weights=weights), abs=0.01)
    assert abs(acc - ceiling) < 3 * accuracy_stderr(acc, len(c)) + 0.005  # sampling error of the test labels
    cal = calibration(*_scores(table, test))
    assert cal.ece < 0.02
    assert cal.counts.sum() == 2 * len(c)


def test_deterministic_labels_make_an_over_confident_proxy(bandit):
    train = bandit.sample_pairs(40_000, seed=1, temperature=0.0)
    test = bandit.sample_pairs(20_000, seed=2, temperature=1.0)  # the world's real, noisy preferences
    table = fit_reward(bandit, train, steps=400)
    cal = calibration(*_scores(table, test))
    filled = cal.counts > 0
    assert cal.ece > 0.15
    # over-confident: predictions are further from 1/2 than what happens
    w = cal.counts[filled] / cal.counts[filled].sum()
    assert np.sum(w * np.abs(cal.predicted[filled] - 0.5)) > np.sum(w * np.abs(cal.observed[filled] - 0.5)) + 0.1
    calibrated = calibration(*_scores(fit_reward(bandit, bandit.sample_pairs(40_000, seed=1, temperature=1.0),
                                                 steps=400), test))
    assert cal.ece > 5 * calibrated.ece


def test_calibration_z_is_standard_normal_for_bradley_terry_labels_and_large_for_an_over_confident_model():
    rng = np.random.default_rng(0)
    zs = []
    for _ in range(20):  # labels drawn from the model itself: calibrated by construction
        a, b = rng.normal(0, 2, 4000), rng.normal(0, 2, 4000)
        first_wins = rng.random(4000) < 1 / (1 + np.exp(-(a - b)))
        cal = calibration(np.where(first_wins, a, b), np.where(first_wins, b, a))
        zs.append(cal.z[cal.counts > 0])
        # the z is the gap over the binomial SE that the predicted probabilities imply, bin by bin
        p = np.concatenate([1 / (1 + np.exp(-(a - b))), 1 / (1 + np.exp(a - b))])  # both orientations of each pair
        top = p >= 0.9  # the last bin, rebuilt by hand
        se = np.sqrt(np.sum(p[top] * (1 - p[top]))) / top.sum()
        assert cal.z[-1] == pytest.approx((cal.observed[-1] - cal.predicted[-1]) / se)
    zs = np.concatenate(zs)                                     # 200 bins
    assert abs(zs.mean()) < 3 / np.sqrt(len(zs))                # mean 0 within 3 SE
    assert 0.75 < np.mean(zs ** 2) < 1.3                        # variance 1 (chi-square of 200 df: 0.75-1.3 is +-3 SD)
    assert np.all(np.abs(zs) < 4.5)
    # the same pairs scored three times too sharply: predictions beyond 0.9 come true far less often
    cal = calibration(3 * np.where(first_wins, a, b), 3 * np.where(first_wins, b, a))
    assert cal.z[-1] < -10 and cal.z[0] > 10
    empty = calibration(np.zeros(5), np.zeros(5))               # every prediction is 1/2: one bin holds them all
    assert np.isnan(empty.z[0]) and np.isfinite(empty.z[5])


def test_noise_ceiling_closed_forms():
    assert noise_ceiling(flip_rate=0.2) == pytest.approx(0.8)
    assert noise_ceiling(flip_rate=0.4, gold_gaps=np.array([1.0, 0.0])) == pytest.approx(0.6 * 0.75 + 0.4 * 0.25)
    gaps = np.array([0.0, 2.0, -2.0])
    p = (0.5 + 2 / (1 + np.exp(-2.0))) / 3
    assert noise_ceiling(gold_gaps=gaps, temperature=1.0) == pytest.approx(p)
    with pytest.raises(ValueError, match="gold gaps"):
        noise_ceiling(temperature=1.0)


def test_gao_fits_recover_their_parameters_and_peaks():
    d = np.linspace(0.2, 4, 12)
    bon = fit_overoptimization(d ** 2, d * (1.0 - 0.25 * d), kind="bon")
    assert (bon.a, bon.b) == pytest.approx((1.0, 0.25)) and bon.peak_d == pytest.approx(2.0) and bon.r2 > 0.999
    assert bon.peak_kl == pytest.approx(4.0) and bon.peak_gain == pytest.approx(1.0)
    rl = fit_overoptimization(d ** 2, d * (0.5 - 0.5 * np.log(d)), kind="rl")
    assert (rl.a, rl.b) == pytest.approx((0.5, 0.5)) and rl.peak_d == pytest.approx(np.exp(0.0))
    rising = fit_overoptimization(d ** 2, d, kind="bon")
    assert rising.peak_d == float("inf")


def test_length_biased_labels_follow_length_more_than_clean_labels():
    clean = load_preferences(f"{PREFS}/clean")
    length = load_preferences(f"{PREFS}/length")
    assert longer_answer_accuracy(length["chosen"], length["rejected"]) > \
        longer_answer_accuracy(clean["chosen"], clean["rejected"]) + 0.1
    assert length_correlation([1, 2, 3, 4], [10, 20, 30, 41]) > 0.99


def test_strict_annotator_disagrees_on_borderline_only_and_a_relabel_changes_the_data_version():
    clean = load_preferences(f"{PREFS}/clean")
    strict = load_preferences(f"{PREFS}/strict")
    agree = agreement_by_slice(clean, strict)
    assert agree["benign"] == 1.0 and agree["harmful"] == 1.0 and agree["borderline"] < 0.6
    report = relabel_report(clean, strict)
    assert report["data_version/old"] != report["data_version/new"]
    assert report["rubric_version/new"] == ["v2-strict"] and report["flipped_by_slice"]["benign"] == 0.0
    with pytest.raises(ValueError, match="same pairs"):
        agreement_by_slice(clean, load_preferences(f"{PREFS}/clean", split="test"))


def test_ties_count_one_half_everywhere_and_a_constant_reward_model_scores_chance():
    import torch

    from prefkit.evaluate.reward_audit import accuracy_ceiling, pair_scores

    w, l = np.array([2.0, 1.0, 0.0, 3.0]), np.array([1.0, 1.0, 1.0, 3.0])
    assert pairwise_accuracy(w, l) == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)
    assert pair_scores(torch.tensor(w), torch.tensor(l)).tolist() == pair_scores(w, l).tolist() == [1, 0.5, 0, 0.5]
    assert pairwise_accuracy(np.zeros(7), np.zeros(7)) == 0.5
    assert accuracy_ceiling([0.5, 0.9, 0.2]) == pytest.approx((0.5 + 0.9 + 0.8) / 3)
    assert accuracy_ceiling([0.9, 0.2], weights=[3, 1]) == pytest.approx((3 * 0.9 + 0.8) / 4)
    with pytest.raises(ValueError, match="probabilities"):
        accuracy_ceiling([1.5])


def test_reward_model_numbers_from_scores_and_the_world_check():
    from datasets import Dataset

    from prefkit.evaluate.reward_model import evaluate_reward_model, is_world_data

    test = load_preferences(f"{PREFS}/clean", split="test").select(range(60))
    constant = evaluate_reward_model(test, np.zeros(60), np.zeros(60))
    assert constant["accuracy"] == 0.5 and constant["accuracy/gold"] == 0.5 and constant["loss"] == pytest.approx(
        np.log(2))
    assert set(constant["accuracy_by_slice"].values()) == {0.5} and 0.5 < constant["accuracy_ceiling"] <= 1
    other = Dataset.from_dict({"prompt": ["say hello", "say bye"], "chosen": ["hello there", "bye"],
                               "rejected": ["no", "ok then"]})
    assert not is_world_data(other)
    out = evaluate_reward_model(other, [1.0, 0.0], [0.0, 0.0])
    assert out["accuracy"] == 0.75 and "accuracy/gold" not in out and "accuracy_ceiling" not in out
    mixed = Dataset.from_dict({k: test[k][:1] + other[k][:1] for k in ("prompt", "chosen", "rejected")})
    with pytest.raises(ValueError, match="1 of 2 prompts"):
        evaluate_reward_model(mixed, [1.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="score every pair"):
        evaluate_reward_model(test, np.zeros(59), np.zeros(59))
