"""Held-out evaluation: slices, refusal and compliance rates, KL to the reference, win rate."""
from __future__ import annotations

import copy

import pytest
import torch

from prefkit.evaluate import evaluate_run, summarize, win_rate
from prefkit.models import load_policy
from prefkit.worlds import assistant as world


@pytest.fixture(scope="module")
def ref():
    return load_policy("assistant-sft")


def _rows(kinds_by_slice):
    rows = []
    for s, kinds in kinds_by_slice.items():
        for k in kinds:
            rows.append({"prompt": "p", "response": "r", "slice": s, "topic": "t", "kind": k, "gold": 1.0,
                         "length": 3})
    return rows


def test_summary_rates_by_slice():
    rows = _rows({"benign": ["help", "refuse", "help", "help"], "borderline": ["refuse", "help"],
                  "harmful": ["comply", "refuse", "refuse", "refuse", "ramble"]})
    s = summarize(rows)
    assert s["refusal_rate/benign"] == 0.25 and s["refusal_rate/borderline"] == 0.5
    assert s["harmful_compliance"] == 0.2 and s["by_slice"]["harmful"]["kinds"] == {"comply": 1, "ramble": 1, "refuse": 3}


def test_a_policy_against_itself_has_zero_kl_and_half_win_rate(ref):
    model, tok = ref
    prompts = [p.text for p in world.heldout_prompts()][::8]
    out = evaluate_run(model, tok, ref=model, prompts=prompts, samples_per_prompt=2, seed=3)
    assert out["win_rate"] == 0.5  # same seed, same samples: every comparison is a tie
    assert out["kl/k1"] == pytest.approx(0.0, abs=1e-6) and out["kl/k3"] == pytest.approx(0.0, abs=1e-6)
    assert out["kl_valid"] is True
    assert set(out["summary"]["by_slice"]) == {"benign", "borderline", "harmful"}
    assert len(out["samples"]) == 2 * len(prompts)


@pytest.mark.slow
def test_kl_grows_with_distance_from_the_reference(ref):
    model, tok = ref
    prompts = [p.text for p in world.heldout_prompts()][::4]
    kls = []
    for scale in (0.02, 0.1):
        moved = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in moved.parameters():
                p.add_(scale * torch.randn(p.shape, generator=gen) * p.std())
        out = evaluate_run(moved, tok, ref=model, prompts=prompts, samples_per_prompt=2, seed=0)
        lo, hi = out["kl/k3_ci95"]
        assert lo <= out["kl/k3"] <= hi and out["kl/k3"] > 0
        kls.append(out["kl/k3"])
    assert kls[1] > kls[0]


def test_win_rate_counts_ties_as_half_and_needs_the_same_prompts():
    a = [{"prompt": "x", "gold": 1.0}, {"prompt": "y", "gold": 0.0}, {"prompt": "z", "gold": 2.0}]
    b = [{"prompt": "x", "gold": 0.0}, {"prompt": "y", "gold": 0.0}, {"prompt": "z", "gold": 3.0}]
    assert win_rate(a, b) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same prompts"):
        win_rate(a, b[::-1])


# ------------------------------------------------------------------------------------ two-sample comparisons
def test_rate_difference_matches_the_two_proportion_formulas():
    import math

    from prefkit.evaluate import Z95, rate_difference

    a, b = [1] * 30 + [0] * 70, [1] * 18 + [0] * 102       # 0.30 of 100 against 0.15 of 120
    r = rate_difference(a, b)
    se = math.sqrt(0.3 * 0.7 / 100 + 0.15 * 0.85 / 120)
    pool = 48 / 220
    z = 0.15 / math.sqrt(pool * (1 - pool) * (1 / 100 + 1 / 120))
    assert r["diff"] == pytest.approx(0.15) and r["se"] == pytest.approx(se) and r["z"] == pytest.approx(z)
    assert r["ci95"] == pytest.approx((0.15 - Z95 * se, 0.15 + Z95 * se))
    assert r["p"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert rate_difference(a, b, pooled=False)["z"] == pytest.approx(0.15 / se)
    assert rate_difference(b, a)["z"] == pytest.approx(-z)
    with pytest.raises(ValueError, match="0/1 outcomes"):
        rate_difference([0.5, 1.0], [0, 1])


def test_a_z_of_1_96_has_p_0_05_and_mean_difference_is_welch():
    import math
    import statistics

    from prefkit.evaluate import Z95, mean_difference

    a, b = [1.0, 2.0, 4.0, 7.0], [0.0, 1.0, 1.5]
    r = mean_difference(a, b)
    se = math.sqrt(statistics.variance(a) / 4 + statistics.variance(b) / 3)
    assert r["diff"] == pytest.approx(3.5 - 2.5 / 3) and r["se"] == pytest.approx(se)
    assert r["z"] == pytest.approx(r["diff"] / se) and (r["n_a"], r["n_b"]) == (4, 3)
    p_at = lambda z: math.erfc(abs(z) / math.sqrt(2))  # noqa: E731
    assert p_at(Z95) == pytest.approx(0.05, abs=1e-12) and r["p"] == pytest.approx(p_at(r["z"]))
    with pytest.raises(ValueError, match="2 or more"):
        mean_difference([1.0], [1.0, 2.0])


def test_mean_ci_is_the_normal_interval_of_the_mean_and_rate_ci_is_wilson():
    import math
    import statistics

    import numpy as np

    from prefkit.evaluate import Z95, mean_ci, paired_difference, rate_ci, wilson_interval

    v = [0.3, -1.2, 2.5, 0.0, 1.1]
    m, (lo, hi) = mean_ci(v)
    half = Z95 * statistics.stdev(v) / math.sqrt(5)
    assert m == pytest.approx(statistics.mean(v)) and (lo, hi) == pytest.approx((m - half, m + half))
    assert (lo, hi) == pytest.approx(paired_difference(v)["ci95"])    # the same interval as the paired test
    assert mean_ci(torch.tensor(v))[1] == pytest.approx([lo, hi])       # tensors read the same
    assert mean_ci(np.array(v)[None, :])[1] == pytest.approx([lo, hi])
    one = mean_ci([2.0])
    assert one[0] == 2.0 and all(math.isnan(x) for x in one[1])
    empty = mean_ci([])
    assert math.isnan(empty[0]) and all(math.isnan(x) for x in empty[1])
    p, ci = rate_ci(3, 10)
    assert p == 0.3 and ci == pytest.approx(list(wilson_interval(3, 10))) and isinstance(ci, list)
    assert ci == pytest.approx([0.1078, 0.6032], abs=1e-4)                  # Wilson's interval for 3 of 10
    assert math.isnan(rate_ci(0, 0)[0])


def test_pairing_removes_the_shared_spread_and_mcnemar_is_the_exact_binomial():
    import math

    import numpy as np

    from prefkit.evaluate import mcnemar_exact, mean_difference, paired_difference

    rng = np.random.default_rng(0)
    base = rng.normal(0, 3, size=400)                      # a prompt effect that both measurements share
    before, after = base + rng.normal(0, 0.5, 400), base + 0.2 + rng.normal(0, 0.5, 400)
    paired = paired_difference(after, before)
    d = after - before
    assert paired["diff"] == pytest.approx(d.mean()) and paired["se"] == pytest.approx(d.std(ddof=1) / 20)
    assert paired_difference(d)["z"] == pytest.approx(paired["z"])
    assert paired["se"] < mean_difference(after, before)["se"] / 4  # pairing is far tighter here
    assert paired["ci95"][0] > 0                                     # the +0.2 shift is found
    with pytest.raises(ValueError, match="one x_b per x_a"):
        paired_difference([1.0, 2.0], [1.0])

    after01, before01 = [1, 1, 1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0]  # 3 up, 1 down, 4 concordant
    m = mcnemar_exact(after01, before01)
    assert (m["up"], m["down"], m["n"]) == (3, 1, 8) and m["diff"] == pytest.approx(2 / 8)
    assert m["p_up"] == pytest.approx((math.comb(4, 3) + 1) / 16)      # P(U >= 3), U ~ Binomial(4, 1/2)
    assert m["p_down"] == pytest.approx((1 + 4 + 6 + 4) / 16)         # P(U <= 3)
    assert m["p"] == pytest.approx(2 * 5 / 16)
    assert mcnemar_exact([1] * 6, [0] * 6)["p_up"] == pytest.approx(1 / 64)
    assert mcnemar_exact([1, 0], [1, 0])["p"] == 1.0                  # no discordant pair: no evidence of change
    assert paired_difference(after01, before01)["diff"] == pytest.approx(m["diff"])
