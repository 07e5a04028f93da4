"""Acceptance tests of the analysis (overoptimization fits, template overfit) that tests/test_reward_audit.py does
not already hold.

Already covered there, on Bradley-Terry data from the bandit: a fitted reward model's accuracy is within
statistical error of the noise ceiling and its ECE is small
(test_bt_reward_model_reaches_the_ceiling_and_is_calibrated); a model fit to deterministic labels is
over-confident (test_deterministic_labels_make_an_over_confident_proxy). tests/test_bon.py shows the Goodhart
peak of best-of-n in the assistant world with paired confidence intervals (about 2 min). Here:

- Goodhart with a reported fitted peak, exactly: a reward model FIT to length-biased Bradley-Terry labels in a
  bandit whose responses are padded versions of base answers (the assistant world's structure: the annotator
  adds 0.1 utility per word, the gold rubric charges 0.05 per padding word); best-of-n against it is computed
  exactly, so the proxy's rise, the gold peak and fall, and the Gao et al. fit are free of sampling noise.
- Template overfit: the table by template and slice on the shipped policy.
"""
from __future__ import annotations

import numpy as np
import pytest

from prefkit.evaluate import format_template_table, template_overfit, template_table
from prefkit.evaluate.overopt import fit_overoptimization
from prefkit.models import load_policy
from prefkit.worlds import assistant as world
from prefkit.worlds.bandit import Bandit, fit_reward

NS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def padded_bandit(x=10, bases=16, seed=0):
    """(gold Bandit, padding words [X, K]): each base answer (quality ~ N(0, 1)) comes with 0, 5, 10 or 20 padding
    words; pi_ref rarely pads (probabilities 0.55, 0.25, 0.15, 0.05); each padding word costs 0.05 gold."""
    rng = np.random.default_rng(seed)
    pads = np.array([0.0, 5.0, 10.0, 20.0])
    quality = rng.standard_normal((x, bases))                                               # (X, B)
    gold = (quality[:, :, None] - 0.05 * pads).reshape(x, -1)                              # (X, 4B)
    pad = np.broadcast_to(pads, (x, bases, 4)).reshape(x, -1)                              # (X, 4B)
    ref = np.broadcast_to(np.array([0.55, 0.25, 0.15, 0.05]) / bases, (x, bases, 4)).reshape(x, -1)
    return Bandit(gold, ref), pad


def test_best_of_n_against_a_proxy_fit_to_length_biased_labels_peaks_in_gold_and_the_fit_reports_the_peak():
    gold, pad = padded_bandit()
    annotator = Bandit(gold.rewards + 0.1 * pad, gold.ref_probs)     # the length-biased annotator's utility
    pairs = annotator.sample_pairs(20_000, seed=1, temperature=0.5)
    proxy = Bandit(fit_reward(annotator, pairs, steps=200), gold.ref_probs)   # the learned proxy r
    assert np.corrcoef(proxy.rewards.ravel(), pad.ravel())[0, 1] > np.corrcoef(gold.rewards.ravel(), pad.ravel())[0, 1] + 0.3

    rows = []
    for n in NS:
        pi = proxy.best_of_n(n)                     # best-of-n selects by the PROXY ...
        rows.append({"n": n, "kl": float(gold.kl(pi)), "gold": float(gold.expected_reward(pi)),  # ... judged by gold
                     "proxy": float(proxy.expected_reward(pi)), "padding": float((pi * pad).sum(-1).mean())})
    proxy_r, gold_r, padding = (np.array([r[k] for r in rows]) for k in ("proxy", "gold", "padding"))
    assert np.all(np.diff(proxy_r) > 0)              # the proxy keeps rising with n ...
    assert padding[-1] > padding[0] + 5               # ... by padding
    peak = int(np.argmax(gold_r))
    assert 0 < peak < len(NS) - 2                     # gold rises, peaks, then falls
    assert gold_r[peak] - gold_r[0] > 0.3 and gold_r[peak] - gold_r[-1] > 0.2
    kl = np.array([r["kl"] for r in rows])
    assert np.all(np.diff(kl) > 0) and np.all(kl <= np.log(NS) - (np.array(NS) - 1) / np.array(NS) + 1e-9)

    fit = fit_overoptimization(kl, gold_r - gold_r[0], kind="bon")
    print(f"\nGao et al. fit: a={fit.a:.3f} b={fit.b:.3f} R^2={fit.r2:.3f}; predicted peak at KL {fit.peak_kl:.2f} nats "
          f"(measured peak n={NS[peak]}, KL {kl[peak]:.2f})")
    assert fit.b > 0 and np.isfinite(fit.peak_kl) and fit.r2 > 0.8
    assert kl[peak - 1] <= fit.peak_kl <= kl[peak + 1]  # the predicted peak lies next to the measured one
    assert fit.peak_gain == pytest.approx(gold_r[peak] - gold_r[0], abs=0.15)


def test_against_the_gold_reward_itself_best_of_n_never_turns_down():
    gold, _ = padded_bandit()
    gains = [float(gold.expected_reward(gold.best_of_n(n))) for n in NS]
    assert np.all(np.diff(gains) > 0)
    kl = [float(gold.kl(gold.best_of_n(n))) for n in NS]
    assert fit_overoptimization(kl, np.array(gains) - gains[0]).peak_kl > kl[-1]  # no peak inside the sweep


def test_template_overfit_table_by_template_and_slice():
    policy, tok = load_policy("assistant-sft")
    prompts = [p.text for p in world.heldout_prompts()][::10]                    # 16 prompts, every slice
    result = template_overfit(policy, tok, trained_on="plain", prompts=prompts, samples_per_prompt=2)
    assert result["templates"] == ["plain", "chatml", "qa"]
    assert len(result["rows"]) == 3 * 4                                          # 3 templates x (3 slices + all)
    assert {r["slice"] for r in result["rows"]} == {"benign", "borderline", "harmful", "all"}
    assert all(r["n"] == 2 * len(prompts) for r in result["rows"] if r["slice"] == "all")
    table = template_table(result)
    for t in result["templates"]:
        by_slice = result["summaries"][t]["by_slice"]
        n = sum(b["n"] for b in by_slice.values())
        assert table[t]["all"] == pytest.approx(sum(b["gold_reward"] * b["n"] for b in by_slice.values()) / n)
        assert -5 < table[t]["all"] < 5
        samples = result["samples"][t]                                           # the samples behind the summary
        assert len(samples) == 2 * len(prompts)
        assert np.mean([s["gold"] for s in samples]) == pytest.approx(table[t]["all"])
    assert result["gap"]["all"] == pytest.approx(table["plain"]["all"] - min(table["chatml"]["all"], table["qa"]["all"]))
    text = format_template_table(result)
    assert "plain (trained)" in text and len(text.splitlines()) == 1 + 12
    with pytest.raises(ValueError, match="unknown chat template"):
        template_overfit(policy, tok, templates=["plain", "markdown"], prompts=prompts)
