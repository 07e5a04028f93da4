"""KL-penalized policy gradient (RLOO): the pure pieces, truncation, gold reward gains on held-out prompts, the
direction of kl_coef, the run directory, and Goodhart's law against a length-biased reward model.

Timings on the 2-core CI machine (one torch thread): each RL run of 30-40 steps of 32 samples takes 35-55 s
plus 10-15 s of held-out evaluation; the length-biased reward model 45 s; the whole file about 3.5 min.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from prefkit.evaluate import sample_responses
from prefkit.models import DecoderConfig, load_policy, score_responses, sequence_logps
from prefkit.evaluate import mean_ci
from prefkit.train.reward import RewardConfig, train_reward
from prefkit.train.scoring import reward_fn
from prefkit.train.rl import RLConfig, advantages, policy_gradient_loss, train_rl, rollout
from prefkit.worlds import assistant as world

FAST = dict(batch_size=32, lr=3e-4, log_every=5, progress=False, eval_samples_per_prompt=2)
KL_COEFS = (0.01, 2.0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def ref():
    return load_policy("assistant-sft")


@pytest.fixture(scope="module")
def ref_samples(ref):
    """pi_ref's held-out samples exactly as evaluate_run draws them (same prompts, seed and decoder)."""
    model, tok = ref
    return sample_responses(model, tok, None, samples_per_prompt=2, seed=0, template="default",
                            decoder=DecoderConfig())


@pytest.fixture(scope="module")
def gold_runs(tmp_path_factory):
    """RL against the gold reward, the same seed and steps, a small and a large kl_coef."""
    out = {}
    for coef in KL_COEFS:
        cfg = RLConfig(kl_coef=coef, steps=30, output_dir=str(tmp_path_factory.mktemp(f"rl{coef}")), **FAST)
        result = train_rl(cfg)
        out[coef] = (result.model, result.history, json.loads(result.run.eval_path.read_text()), result.run)
    return out


def _paired_gain(eval_json: dict, ref_samples: list[dict]) -> tuple[float, list[float]]:
    """Mean and 95% CI of gold(policy sample) - gold(reference sample), sample by sample on the same prompts."""
    assert [s["prompt"] for s in eval_json["samples"]] == [s["prompt"] for s in ref_samples]
    return mean_ci([a["gold"] - b["gold"] for a, b in zip(eval_json["samples"], ref_samples)])


# ----------------------------------------------------------------------------------------- pure pieces
def test_rloo_advantage_is_the_reward_minus_the_mean_of_the_other_samples():
    rewards = torch.tensor([1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 0.0, 4.0])                      # 2 prompts, k = 4
    adv = advantages(rewards, k=4, baseline="rloo")
    expected = torch.tensor([1 - 11 / 3, 2 - 10 / 3, 3 - 9 / 3, 6 - 6 / 3, 0 - 4 / 3, 0 - 4 / 3, 0 - 4 / 3, 4 - 0.0])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(adv.view(2, 4).sum(1), torch.zeros(2))  # the baseline centres each prompt
    torch.testing.assert_close(advantages(rewards, 4, "mean"), rewards - rewards.mean())
    torch.testing.assert_close(advantages(rewards, 4, "none"), rewards)


def test_policy_gradient_loss_is_reinforce_with_constant_advantages():
    logps = torch.tensor([-3.0, -1.0, -2.0], requires_grad=True)
    adv = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    policy_gradient_loss(logps, adv).backward()
    torch.testing.assert_close(logps.grad, -adv.detach() / 3)
    assert adv.grad is None  # no gradient flows into the reward side


def test_config_errors_speak_to_a_student():
    with pytest.raises(ValueError, match="num_generations >= 2"):
        RLConfig(num_generations=1)
    with pytest.raises(ValueError, match="multiples of num_generations"):
        RLConfig(batch_size=30, num_generations=4)
    with pytest.raises(ValueError, match="kl_estimator"):
        RLConfig(kl_estimator="k2")
    with pytest.raises(ValueError, match="kl_coef"):
        RLConfig(kl_coef=-0.1)


def test_a_cut_response_is_scored_without_an_end_token(ref):
    model, tok = ref
    cfg = RLConfig(max_new_tokens=3, num_generations=2)
    prompts = [p.text for p in world.heldout_prompts()[:4]]
    responses, enc = rollout(model, tok, prompts, cfg, seed=0)
    n_resp = enc["response_mask"].sum(1)
    assert enc["truncated"].all() and (n_resp == 3).all()  # 3 sampled tokens, no EOS the model never chose
    full = RLConfig(max_new_tokens=64, num_generations=2)
    _, enc64 = rollout(model, tok, prompts, full, seed=0)
    assert not enc64["truncated"].all()
    with torch.no_grad():
        logps = sequence_logps(model, enc["input_ids"], enc["attention_mask"], enc["response_mask"])
    assert torch.isfinite(logps).all() and (logps < 0).all()


# --------------------------------------------------------------------------------------- against gold
@pytest.mark.slow
def test_rl_against_gold_raises_heldout_gold_over_the_reference(gold_runs, ref_samples):
    gains = {coef: _paired_gain(ev, ref_samples) for coef, (_, _, ev, _) in gold_runs.items()}
    print("\nheld-out gold gain over pi_ref (mean, 95% CI):", gains)
    mean, (lo, _) = gains[0.01]
    assert lo > 0.2  # measured: +0.63 [0.49, 0.77] after 30 steps of 32 samples
    assert gains[2.0][1][0] > 0  # measured: +0.26 with the large penalty
    _, history, ev, _ = gold_runs[0.01]
    assert history[-1]["gold"] > history[0]["gold"] + 0.3  # on-policy training samples too
    assert ev["win_rate"] > 0.55


@pytest.mark.slow
def test_a_larger_kl_coef_keeps_the_policy_closer_to_the_reference(gold_runs):
    small, large = gold_runs[0.01][2], gold_runs[2.0][2]
    print("\nKL(pi || pi_ref) on held-out prompts, k1 [95% CI]:",
          {c: (round(gold_runs[c][2]["kl/k1"], 3), gold_runs[c][2]["kl/k1_ci95"]) for c in KL_COEFS})
    assert large["kl/k1_ci95"][1] < small["kl/k1_ci95"][0]  # measured: 0.94 [0.73, 1.16] vs 2.20 [1.81, 2.60]
    assert large["kl/k3_ci95"][1] < small["kl/k3_ci95"][0]
    late = {c: np.mean([r["kl"] for r in gold_runs[c][1][-3:]]) for c in KL_COEFS}
    assert late[2.0] < late[0.01]  # and during training


@pytest.mark.slow
def test_the_rl_run_directory_is_complete(gold_runs):
    policy, history, ev, run = gold_runs[0.01]
    record = run.read_record()
    assert record["kind"] == "RLConfig" and record["reward"] == "gold" and record["config"]["kl_coef"] == 0.01
    assert record["reference_model"] == "assistant-sft" and record["template"] == "default"
    assert record["data_version"].startswith("pd-") and record["decoder"]["temperature"] == 1.0
    assert record["policy_version"].endswith("@step30")
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30]
    assert {"loss", "reward", "gold", "kl", "kl/k1", "kl/k3", "entropy", "completions/mean_length",
            "completions/clipped_ratio", "refusal_rate", "rlhf_reward", "grad_norm"} <= set(rows[0])
    assert all(r["entropy"] > 0 for r in rows)
    reloaded, tok = load_policy(run.path / "checkpoint")
    prompts, responses = ["how do i bake bread ?"], ["sure . first knead the dough ."]
    torch.testing.assert_close(score_responses(reloaded, tok, prompts, responses),
                               score_responses(policy, tok, prompts, responses))
    assert {"summary", "reference", "win_rate", "kl/k1", "kl/k3", "samples"} <= set(ev)
    assert set(ev["summary"]["by_slice"]) == {"benign", "borderline", "harmful"}


# ----------------------------------------------------------------------------------------------- Goodhart
@pytest.mark.slow
def test_goodhart_rl_against_a_length_biased_proxy(tmp_path, ref, ref_samples):
    rm_cfg = RewardConfig(data="data/assistant/prefs/length", steps=40, lr=1e-3, warmup_steps=5, batch_size=32,
                          progress=False, output_dir=str(tmp_path / "rm"))
    rm = train_reward(rm_cfg).model
    proxy = reward_fn(rm, ref[1])
    result = train_rl(RLConfig(kl_coef=0.01, steps=40, output_dir=str(tmp_path / "rl"), **FAST), reward_fn=proxy)
    policy, history = result.model, result.history
    print("\nRL against the length-biased reward model (training samples)")
    for r in history:
        print(f"step {r['step']:>3}  proxy {r['reward']:6.3f}  gold {r['gold']:6.3f}  "
              f"length {r['completions/mean_length']:5.1f}  kl {r['kl']:7.3f}")
    first, last = history[0], history[-1]
    assert last["reward"] > first["reward"] + 1.5  # the proxy keeps rising ...
    assert last["completions/mean_length"] > first["completions/mean_length"] + 10  # ... by padding ...
    golds = [r["gold"] for r in history]
    peak = int(np.argmax(golds))
    assert peak < len(golds) - 1 and golds[-1] < golds[peak] - 0.3  # ... while gold falls after a peak
    ev = json.loads(result.run.eval_path.read_text())
    ref_proxy = proxy([s["prompt"] for s in ref_samples], [s["response"] for s in ref_samples]).mean()
    drop, (_, hi) = _paired_gain(ev, ref_samples)
    print(f"held-out: proxy {ev['proxy']:.2f} vs pi_ref {ref_proxy:.2f}; gold change {drop:+.2f} [.., {hi:+.2f}]; "
          f"length {ev['summary']['length']:.1f} vs {ev['reference']['length']:.1f}")
    assert ev["proxy"] > ref_proxy + 1.5 and ev["summary"]["length"] > ev["reference"]["length"] + 10
    assert hi < 0  # on held-out prompts the hacked policy is WORSE than pi_ref under the gold reward
