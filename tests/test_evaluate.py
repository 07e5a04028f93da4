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
