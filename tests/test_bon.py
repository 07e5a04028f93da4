"""Best-of-n: its estimators against exact answers, the decision rule's run directory, gold reward rising with n
under the gold reward, the KL bound, and Goodhart's law against a reward model fit to length-biased labels.

Timings on the 2-core CI machine (one torch thread): the length-biased reward model (40 steps) about 45 s, the
pool of 64 samples on each of 80 held-out prompts about 75 s; the whole file about 2.5 min.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from prefkit.models import load_policy
from prefkit.train.bon import BestOfNConfig, best_of_n, best_of_n_curve, format_curve, sample_candidates
from prefkit.evaluate import mean_ci
from prefkit.train.bon_estimators import best_of_n_weights, bon_log_ratio, curve_for_prompt
from prefkit.worlds.bandit import bon_kl_bound
from prefkit.train.reward import RewardConfig, train_reward
from prefkit.train.scoring import gold_reward_fn, reward_fn
from prefkit.worlds import assistant as world
from prefkit.worlds.bandit import Bandit

NS = (1, 2, 4, 8, 16, 32)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def policy():
    return load_policy("assistant-sft")


@pytest.fixture(scope="module")
def length_proxy(tmp_path_factory):
    """A reward model fit to the length-biased annotator (+0.1 utility per word): a proxy that likes padding."""
    cfg = RewardConfig(data="data/assistant/prefs/length", steps=40, lr=1e-3, warmup_steps=5, batch_size=32,
                       progress=False, output_dir=str(tmp_path_factory.mktemp("rm")))
    rm = train_reward(cfg).model
    tok = load_policy("assistant-sft")[1]
    return rm, reward_fn(rm, tok)


@pytest.fixture(scope="module")
def pool(policy, length_proxy):
    """64 reference samples on each of 80 held-out prompts, scored by the length proxy and by gold."""
    model, tok = policy
    prompts = [p.text for p in world.heldout_prompts()][::2]
    return prompts, sample_candidates(model, tok, prompts, 64, length_proxy[1], seed=0)


# --------------------------------------------------------------------------------------------- estimators
def test_kl_bound():
    assert bon_kl_bound(1) == 0.0 and bon_kl_bound(2) == pytest.approx(math.log(2) - 0.5)
    assert all(bon_kl_bound(a) < bon_kl_bound(b) for a, b in zip(NS, NS[1:]))
    with pytest.raises(ValueError, match="positive integer"):
        bon_kl_bound(0)


def test_best_of_n_weights_equal_brute_force_over_subsets():
    m, n = 7, 3
    counts = np.zeros(m)
    for subset in itertools.combinations(range(m), n):  # sample i is the i-th smallest reward
        counts[max(subset)] += 1
    np.testing.assert_allclose(best_of_n_weights(m, n), counts / counts.sum(), atol=1e-12)
    np.testing.assert_allclose(best_of_n_weights(m, 1), np.full(m, 1 / m))
    np.testing.assert_allclose(best_of_n_weights(m, m), np.eye(m)[-1])


def test_kl_estimate_matches_the_exact_kl_with_ties_and_the_bound_without():
    rng = np.random.default_rng(0)
    rewards = np.array([0, 0, 0, 1, 1, 2, 3, 3, 4, 5, 6, 7.0])   # ties, as duplicate responses make
    ref = rng.dirichlet(np.full(12, 0.5))
    bandit = Bandit(rewards, ref)
    for n in (4, 16):
        exact = float(bandit.kl(bandit.best_of_n(n)))
        est = [curve_for_prompt(rewards[y], {}, [n], rng, splits=2)[n]["kl"]
               for y in (rng.choice(12, size=128, p=ref) for _ in range(150))]
        mean, (lo, hi) = mean_ci(est)
        assert exact < bon_kl_bound(n) - 0.02  # ties lower the KL below the bound ...
        assert mean == pytest.approx(exact, abs=max(0.05 * exact, 2 * (hi - lo)))  # ... and we measure it
    for n in (4, 16):  # continuous rewards: the bound is the exact KL
        est = [curve_for_prompt(r, {}, [n], rng, splits=2)[n]["kl"] for r in rng.normal(size=(150, 128))]
        assert np.mean(est) == pytest.approx(bon_kl_bound(n), rel=0.05)


def test_log_ratio_of_a_kept_reward_above_every_fresh_one_is_log_n():
    fresh = np.arange(100.0)
    assert bon_log_ratio(np.array([1000.0]), fresh, 8)[0] == pytest.approx(math.log(8))
    # a tie group holding all the mass: best-of-n cannot move away from pi_ref
    assert bon_log_ratio(np.array([1.0]), np.ones(50), 8)[0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="fresh must have shape"):
        bon_log_ratio(np.zeros(3), np.zeros((2, 5)), 4)


# ------------------------------------------------------------------------------------------- decision rule
def test_best_of_n_keeps_the_best_and_writes_its_run_directory(policy, tmp_path):
    model, tok = policy
    prompts = [p.text for p in world.heldout_prompts()][::7]
    cfg = BestOfNConfig(n=4, samples_per_prompt=4, output_dir=str(tmp_path))
    result = best_of_n(cfg, model, tok, reward_fn=gold_reward_fn(), prompts=prompts)
    records, report = result.samples, result.report
    assert len(records) == 4 * len(prompts)
    assert {"prompt", "response", "slice", "kind", "gold", "length", "proxy"} <= set(records[0])
    assert all(r["proxy"] == r["gold"] == world.gold_reward(r["prompt"], r["response"]) for r in records)
    # measured on 23 prompts: gold 0.65 for best-of-4 vs -0.41 for pi_ref's own samples; KL 0.61 (bound 0.64)
    assert report["summary"]["gold_reward"] > report["reference"]["gold_reward"] + 0.5
    lo, hi = report["kl/rank_ci95"]
    assert 0 < report["kl/rank"] and lo <= report["kl_bound"] == pytest.approx(bon_kl_bound(4))
    run = json.loads((tmp_path / report["run_dir"] / "run.json").read_text())
    assert run["kind"] == "BestOfNConfig" and run["reward"] == "gold" and run["decoder"]["temperature"] == 1.0
    saved = json.loads((tmp_path / report["run_dir"] / "eval.json").read_text())
    assert saved["kl_bound"] == report["kl_bound"] and len(saved["samples"]) == len(records)
    assert set(saved["summary"]["by_slice"]) == {"benign", "borderline", "harmful"}


# ----------------------------------------------------------------------------------------- sweeps over n
@pytest.mark.slow
def test_under_the_gold_reward_gold_rises_with_n_and_the_kl_stays_under_the_bound(pool):
    prompts, samples = pool
    rows = best_of_n_curve(None, None, None, ns=NS, prompts=prompts, samples_per_prompt=64,
                           samples={**samples, "proxy": samples["gold"]})
    print("\nbest-of-n against the gold reward\n" + format_curve(rows))
    gold = [r["gold"] for r in rows]
    assert all(b > a for a, b in zip(gold, gold[1:]))  # measured: -0.30, 0.23, 0.61, 0.84, 0.96, 1.03
    assert gold[-1] > gold[0] + 1.0
    for r in rows[1:]:
        lo, hi = r["kl_ci95"]
        assert 0 < r["kl"] and lo <= r["kl_bound"]  # within estimator error of the bound or under it
    for r in rows[3:]:  # n >= 8: the gold reward's many ties keep the KL clearly under the bound
        assert r["kl_ci95"][1] < r["kl_bound"]


@pytest.mark.slow
def test_goodhart_best_of_n_against_a_length_biased_proxy(pool):
    prompts, samples = pool
    rows = best_of_n_curve(None, None, None, ns=NS, prompts=prompts, samples_per_prompt=64, samples=samples)
    print("\nbest-of-n against the length-biased reward model\n" + format_curve(rows))
    proxy, gold, length = ([r[k] for r in rows] for k in ("proxy", "gold", "length"))
    assert all(b > a for a, b in zip(proxy, proxy[1:]))  # the proxy keeps rising with n ...
    assert all(b > a for a, b in zip(length, length[1:])) and length[-1] > length[0] + 10  # ... by padding
    peak = int(np.argmax(gold))
    # measured: proxy 0.54 -> 3.02, length 17.6 -> 34.6, gold -0.30, 0.05, 0.23, 0.26 (n=8), 0.21, 0.12
    assert 0 < peak < len(NS) - 1  # gold first rises, then falls: the Goodhart peak
    by_prompt = np.array([r["gold_by_prompt"] for r in rows])                                  # (len(NS), P)
    rise, (lo_rise, _) = mean_ci(by_prompt[peak] - by_prompt[0])
    fall, (lo_fall, _) = mean_ci(by_prompt[peak] - by_prompt[-1])
    print(f"gold rise to n={NS[peak]}: {rise:+.3f} (95% lower bound {lo_rise:+.3f}); fall from there to n={NS[-1]}: "
          f"{fall:+.3f} (95% lower bound {lo_fall:+.3f})")
    assert lo_rise > 0.2 and lo_fall > 0  # paired over prompts, 95% intervals that exclude no change
    for r in rows[1:]:
        assert r["kl_ci95"][0] <= r["kl_bound"]
