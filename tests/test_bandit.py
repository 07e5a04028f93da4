"""prefkit.worlds.bandit: the exact tabular world (docs/design.md, The two worlds) and a tabular policy trained by
prefkit.losses.

Tolerances were measured (seeded, deterministic) and are stated next to each check.
"""
import math
import time

import numpy as np
import pytest

from prefkit.evaluate.reward_audit import noise_ceiling
from prefkit.worlds.bandit import Bandit, fit_policy


def tv(p, q):
    """Total variation distance, averaged over prompts."""
    return 0.5 * np.abs(np.atleast_2d(p) - np.atleast_2d(q)).sum(axis=-1).mean()


@pytest.fixture
def tied():
    """One prompt, ties in the middle and at the top; pi_ref not uniform."""
    return Bandit([0.0, 1.0, 1.0, 2.0, 0.5, 2.0], [0.3, 0.2, 0.1, 0.05, 0.25, 0.1])


# ----------------------------------------------------------------------------- closed forms
def test_optimal_policy_is_the_tilted_reference():
    b = Bandit.random(k=7, x=3, seed=1)
    for beta in (0.1, 1.0, 10.0):
        direct = b.ref_probs * np.exp(b.rewards / beta)
        np.testing.assert_allclose(b.optimal_policy(beta), direct / direct.sum(-1, keepdims=True), rtol=1e-12)
    # Log-space: at beta = 1e-3 the direct formula overflows (exp(r / beta) = inf); pi* is the greedy policy.
    greedy = np.eye(7)[b.rewards.argmax(-1)]
    np.testing.assert_allclose(b.optimal_policy(1e-3), greedy, atol=1e-12)
    one = Bandit.random(k=5, seed=2)
    assert one.optimal_policy(0.5).shape == (5,) and one.rewards.shape == (5,)


def test_optimal_policy_maximizes_the_kl_regularized_objective():
    b = Bandit.random(k=6, x=2, seed=3)
    beta = 0.7
    star = b.optimal_policy(beta)
    value = b.expected_reward(star) - beta * b.kl(star)
    log_z = np.log((b.ref_probs * np.exp(b.rewards / beta)).sum(-1))
    assert value == pytest.approx(beta * log_z.mean(), abs=1e-12)  # the optimum is beta log Z
    rng = np.random.default_rng(0)
    for _ in range(200):
        other = rng.dirichlet(np.ones(6), size=2)
        assert b.expected_reward(other) - beta * b.kl(other) < value


def test_larger_beta_gives_smaller_kl_and_reward():
    b = Bandit.random(k=8, x=4, seed=4)
    betas = np.geomspace(0.1, 100, 40)  # below ~0.02 pi* is greedy to float precision and KL stops changing
    kl, reward = b.frontier(betas)
    assert np.all(np.diff(kl) < 0) and np.all(np.diff(reward) < 0)
    # Large beta, to first order: E[r] rises by Var_ref(r) / beta and KL = Var_ref(r) / (2 beta^2).
    var = (b.ref_probs * (b.rewards - (b.ref_probs * b.rewards).sum(-1, keepdims=True)) ** 2).sum(-1).mean()
    assert reward[-1] - b.expected_reward(b.ref_probs) == pytest.approx(var / betas[-1], rel=0.05)
    assert kl[-1] == pytest.approx(var / (2 * betas[-1] ** 2), rel=0.05)
    assert kl[0] == pytest.approx(b.kl(b.optimal_policy(0.1)))
    assert b.kl(b.ref_probs) == 0.0
    assert b.kl(b.optimal_policy(0.5), per_prompt=True).shape == (4,)


def test_best_of_n_is_a_distribution_and_n1_is_the_reference(tied):
    for b in (tied, Bandit.random(k=9, x=3, seed=5)):
        np.testing.assert_allclose(b.best_of_n(1), b.ref_probs, atol=1e-15)
        rewards_by_n = []
        for n in (1, 2, 3, 8, 64):
            bon = b.best_of_n(n)
            np.testing.assert_allclose(bon.sum(-1), 1.0, atol=1e-12)
            assert (bon >= 0).all()
            rewards_by_n.append(b.expected_reward(bon))
        assert np.all(np.diff(rewards_by_n) > 0)  # more samples, higher expected reward
    # Ties at the top (responses 3 and 5, pi_ref 0.05 and 0.1): as n grows they split 1:2, like pi_ref.
    np.testing.assert_allclose(tied.best_of_n(5000)[[3, 5]], [1 / 3, 2 / 3], atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 4, 16, 100])
def test_best_of_n_kl_bound(tied, n):
    bound = math.log(n) - (n - 1) / n
    for b in (tied, Bandit.random(k=12, x=2, seed=6)):
        assert b.kl(b.best_of_n(n)) <= bound + 1e-12
    # The bound is tight when every response is rare: uniform pi_ref over 5000 distinct rewards.
    many = Bandit(np.arange(5000.0), np.full(5000, 1 / 5000))
    assert many.kl(many.best_of_n(n)) == pytest.approx(bound, abs=1e-4)  # measured gap <= 1.7e-5


def test_best_of_n_matches_monte_carlo(tied):
    n, trials = 3, 200_000
    rng = np.random.default_rng(7)
    draws = rng.choice(6, size=(trials, n), p=tied.ref_probs)  # (trials, n)
    winner = draws[np.arange(trials), tied.rewards[draws].argmax(axis=1)]  # first draw wins a tie
    freq = np.bincount(winner, minlength=6) / trials
    exact = tied.best_of_n(n)
    se = np.sqrt(exact * (1 - exact) / trials)
    assert np.all(np.abs(freq - exact) < 4 * se), (freq, exact)


# ----------------------------------------------------------------------------- sampling pairs
def test_sample_pairs_is_seeded_and_shaped():
    one, many = Bandit.random(k=5, seed=8), Bandit.random(k=5, x=4, seed=8)
    c, r = one.sample_pairs(1000, seed=3)
    assert c.shape == r.shape == (1000,) and np.issubdtype(c.dtype, np.integer)
    assert (c != r).all()
    np.testing.assert_array_equal(np.stack(one.sample_pairs(1000, seed=3)), np.stack((c, r)))
    assert not np.array_equal(one.sample_pairs(1000, seed=4)[0], c)
    c, r, x = many.sample_pairs(40_000, seed=3)
    assert x.min() == 0 and x.max() == 3 and (c != r).all()
    counts = np.bincount(x, minlength=4)
    assert np.all(np.abs(counts / 40_000 - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 40_000))  # uniform prompts


def test_pairs_are_two_distinct_draws_from_the_reference():
    b = Bandit([0.0, 1.0, 2.0, 3.0], [0.4, 0.3, 0.2, 0.1])
    c, r = b.sample_pairs(100_000, seed=9)
    p = b.ref_probs
    pair_prob = p[:, None] * p[None, :] / (1 - p[:, None])  # P(first = a, second = b)
    for a in range(4):
        for k in range(a + 1, 4):
            expected = pair_prob[a, k] + pair_prob[k, a]
            seen = np.mean(((c == a) & (r == k)) | ((c == k) & (r == a)))
            assert abs(seen - expected) < 4 * math.sqrt(expected * (1 - expected) / len(c))


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("flip_rate", [0.0, 0.1, 0.3])
def test_label_agreement_matches_the_predicted_ceiling(temperature, flip_rate):
    b = Bandit.random(k=6, x=3, seed=10)
    n = 100_000
    c, r, x = b.sample_pairs(n, seed=11, flip_rate=flip_rate, temperature=temperature)
    agree = np.mean(b.rewards[x, c] > b.rewards[x, r])  # these rewards have no ties
    gaps, weights = b.pair_gaps()
    ceiling = noise_ceiling(flip_rate, gaps, temperature, weights=weights)
    if temperature == 0:
        assert ceiling == pytest.approx(1 - flip_rate, abs=1e-12)
    assert abs(agree - ceiling) < 4 * math.sqrt(ceiling * (1 - ceiling) / n + 1e-12)


def test_bradley_terry_probability_per_pair_and_coin_on_ties():
    b = Bandit([0.0, 1.0, 1.0], [0.5, 0.3, 0.2])
    for temperature in (0.5, 2.0):
        c, r = b.sample_pairs(100_000, seed=12, temperature=temperature)
        pair01 = ((c == 0) & (r == 1)) | ((c == 1) & (r == 0))
        p = 1 / (1 + math.exp(-1.0 / temperature))  # P(1 beats 0)
        seen = np.mean(c[pair01] == 1)
        assert abs(seen - p) < 4 * math.sqrt(p * (1 - p) / pair01.sum())
    c, r = b.sample_pairs(100_000, seed=13, temperature=0.0)
    tie = ((c == 1) & (r == 2)) | ((c == 2) & (r == 1))
    assert abs(np.mean(c[tie] == 1) - 0.5) < 4 * math.sqrt(0.25 / tie.sum())
    assert (c[~tie] != 0).all()  # deterministic: response 0 never wins against a better one


# ----------------------------------------------------------------------------- fitting a tabular policy
def test_dpo_converges_to_the_closed_form_optimum():
    # Bradley-Terry labels at temperature T = 1 (P(a > b) = sigmoid(r_a - r_b)) make r the BT reward, so DPO's
    # population optimum is exactly pi*(beta). Measured with 200k pairs: TV 0.0061, KL(pi* || fit) 1e-4 (one
    # prompt, seed 0); TV 0.0097 with three prompts. Over 6 seeds the worst TV was 0.012; the remaining error
    # is sampling noise (it shrinks like 1/sqrt(pairs)), not optimization (2000 steps give the same TV).
    beta = 0.5
    b = Bandit.random(k=6, seed=0, ref_spread=0.5)
    fit = fit_policy(b, b.sample_pairs(200_000, seed=10), beta)
    star = b.optimal_policy(beta)
    assert tv(fit, star) < 0.03 and np.sum(star * np.log(star / fit)) < 1e-3
    assert tv(b.ref_probs, star) > 0.2  # the policy really moved
    many = Bandit.random(k=5, x=3, seed=0, ref_spread=0.5)
    assert tv(fit_policy(many, many.sample_pairs(200_000, seed=1), beta), many.optimal_policy(beta)) < 0.03


def test_bt_temperature_rescales_beta():
    # Labels at temperature T carry the BT reward r / T, so DPO converges to pi*(beta * T), not pi*(beta).
    # Measured: TV to pi*(2 beta) 0.0050, TV to pi*(beta) 0.128.
    beta = 0.5
    b = Bandit.random(k=6, seed=0, ref_spread=0.5)
    fit = fit_policy(b, b.sample_pairs(200_000, seed=10, temperature=2.0), beta)
    assert tv(fit, b.optimal_policy(2 * beta)) < 0.03
    assert tv(fit, b.optimal_policy(beta)) > 0.1


def test_rdpo_undoes_label_flips_that_bias_dpo():
    # 20% of labels flipped. rDPO with eps = flip rate is unbiased, so it still reaches pi*(beta) (measured TV
    # 0.0102); DPO on the same pairs fits a flatter policy (measured TV 0.108).
    beta, eps = 0.5, 0.2
    b = Bandit.random(k=6, seed=0, ref_spread=0.5)
    pairs = b.sample_pairs(200_000, seed=10, flip_rate=eps)
    star = b.optimal_policy(beta)
    assert tv(fit_policy(b, pairs, beta, kind="rdpo", eps=eps), star) < 0.03
    assert tv(fit_policy(b, pairs, beta, kind="dpo"), star) > 0.08


def test_deterministic_preferences_dpo_goes_greedy_ipo_does_not():
    # With temperature 0 every label is "higher reward wins": DPO's loss keeps falling as the winner's
    # probability grows (no finite optimum), while IPO regresses h onto 1/(2 beta) and stops at the
    # least-squares solution. Measured: DPO max prob 0.994 (500 steps) rising with steps; IPO max prob 0.301,
    # equal to the least-squares closed form to 1e-12.
    beta = 0.5
    b = Bandit.random(k=6, seed=0, ref_spread=0.5)
    pairs = b.sample_pairs(4000, seed=0, temperature=0.0)
    dpo = fit_policy(b, pairs, beta, kind="dpo")
    ipo = fit_policy(b, pairs, beta, kind="ipo")
    assert dpo.max() > 0.95 and dpo.argmax() == b.rewards.argmax()
    assert ipo.max() < 0.9
    assert fit_policy(b, pairs, beta, kind="dpo", steps=1000).max() > dpo.max()
    np.testing.assert_allclose(fit_policy(b, pairs, beta, kind="ipo", steps=1000), ipo, atol=1e-6)

    c, r = pairs
    design = np.zeros((len(c), 6))
    design[np.arange(len(c)), c] += 1
    design[np.arange(len(c)), r] -= 1
    u = np.linalg.lstsq(design, np.full(len(c), 1 / (2 * beta)), rcond=None)[0]  # logratios up to a constant
    closed = b.ref_probs * np.exp(u - u.max())
    np.testing.assert_allclose(ipo, closed / closed.sum(), atol=1e-6)


def test_fit_policy_is_deterministic_and_minibatches_work():
    b = Bandit.random(k=6, seed=0, ref_spread=0.5)
    pairs = b.sample_pairs(20_000, seed=10)
    np.testing.assert_array_equal(fit_policy(b, pairs, 0.5, steps=100), fit_policy(b, pairs, 0.5, steps=100))
    mb = fit_policy(b, pairs, 0.5, batch_size=512, steps=400, lr=0.05, seed=1)
    np.testing.assert_array_equal(mb, fit_policy(b, pairs, 0.5, batch_size=512, steps=400, lr=0.05, seed=1))
    assert not np.array_equal(mb, fit_policy(b, pairs, 0.5, batch_size=512, steps=400, lr=0.05, seed=2))
    star = b.optimal_policy(0.5)
    assert tv(mb, star) < 0.5 * tv(b.ref_probs, star)  # SGD noise stays, but it moves most of the way
    assert fit_policy(b, pairs, 0.5, steps=0) == pytest.approx(b.ref_probs)  # starts at the reference


def test_fit_policy_is_fast():
    b = Bandit.random(k=16, x=4, seed=0)
    pairs = b.sample_pairs(5000, seed=0)
    start = time.process_time()  # CPU time of this process: not inflated by other jobs on a shared machine
    fit_policy(b, pairs, 0.5)
    assert time.process_time() - start < 2.0


# ----------------------------------------------------------------------------- errors
def test_clear_errors_for_bad_bandits_and_arguments():
    with pytest.raises(ValueError, match="ref_probs must be positive"):
        Bandit([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="must sum to 1"):
        Bandit([0.0, 1.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="same shape"):
        Bandit([0.0, 1.0, 2.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        Bandit([0.0, np.nan], [0.5, 0.5])
    with pytest.raises(ValueError, match="at least 2 responses"):
        Bandit([1.0], [1.0])
    b = Bandit.random(k=4, x=2, seed=0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        b.optimal_policy(0.0)
    with pytest.raises(ValueError, match="positive integer"):
        b.best_of_n(0)
    with pytest.raises(ValueError, match="flip_rate"):
        b.sample_pairs(10, seed=0, flip_rate=1.5)
    with pytest.raises(ValueError, match="probs must have shape"):
        b.kl(np.full(4, 0.25))
    with pytest.raises(ValueError, match="several prompts"):
        fit_policy(b, b.sample_pairs(10, seed=0)[:2], 0.5)
    with pytest.raises(ValueError, match="out of range"):
        fit_policy(b, (np.array([0, 9]), np.array([1, 2]), np.array([0, 1])), 0.5)
