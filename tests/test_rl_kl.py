"""RL's KL penalty: k1 and k3 both penalize a KL (exact expected gradients in a tabular softmax), and the logged
`kl` is TRL's per-token k1."""
from __future__ import annotations

import copy

import pytest
import torch

from prefkit.losses import kl_estimate
from prefkit.models import load_policy, sequence_logps
from prefkit.train.scoring import gold_reward_fn
from prefkit.train.rl import RLConfig, kl_penalty, rl_step, rollout
from prefkit.worlds import assistant as world

K = 6


def _expected_penalty_gradient(theta, ref_logp, kind):
    """grad_theta of the expected penalty part of RL's loss, exactly (sum over all K responses weighted by pi).

    The loss is -A log pi(y) + in_loss(y) with A = -in_reward(y) (the penalty's share of the advantage; any
    baseline has expectation zero), so its expectation's gradient is sum_y pi(y) grad[in_reward(y) log pi(y) +
    in_loss(y)], the sample y held fixed.
    """
    theta = theta.clone().requires_grad_(True)
    logp = torch.log_softmax(theta, -1)                                                           # (K,)
    in_reward, in_loss = kl_penalty(logp, ref_logp, kind)                                         # (K,), (K,)
    weights = logp.detach().exp()
    surrogate = (weights * (in_reward.detach() * logp + in_loss)).sum()
    (grad,) = torch.autograd.grad(surrogate, theta)
    return grad


def _exact_kl_gradient(theta, ref_logp, reverse=False):
    theta = theta.clone().requires_grad_(True)
    logp = torch.log_softmax(theta, -1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum() if reverse else (logp.exp() * (logp - ref_logp)).sum()
    (grad,) = torch.autograd.grad(kl, theta)
    return grad


@pytest.mark.parametrize("scale", [0.02, 0.1])
def test_k3_penalty_gradient_near_pi_ref_matches_k1s(scale):
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(K, generator=gen, dtype=torch.float64)
    ref_logp = torch.log_softmax(theta0, -1)
    theta = theta0 + scale * torch.randn(K, generator=gen, dtype=torch.float64)
    true = _exact_kl_gradient(theta, ref_logp)
    g1 = _expected_penalty_gradient(theta, ref_logp, "k1")
    g3 = _expected_penalty_gradient(theta, ref_logp, "k3")
    assert torch.allclose(g1, true, atol=1e-12)                 # k1 in the reward: exactly grad KL(pi || pi_ref)
    cosine = torch.nn.functional.cosine_similarity(g3, true, dim=0)
    assert cosine > 0.99 and 0.8 < g3.norm() / true.norm() < 1.25, (cosine, g3.norm() / true.norm())
    # k3 put into the reward like k1 (the score-function form) would barely penalize at all near pi_ref:
    logp = torch.log_softmax(theta, -1)
    score_k3 = (logp.exp() * kl_estimate(logp, ref_logp, "k3"))
    theta_ = theta.clone().requires_grad_(True)
    lp = torch.log_softmax(theta_, -1)
    (wrong,) = torch.autograd.grad((score_k3.detach() * lp).sum(), theta_)
    assert wrong.norm() < 0.25 * true.norm()


def test_k3_penalty_gradient_is_the_reverse_kls_everywhere():
    gen = torch.Generator().manual_seed(1)
    theta0, theta = torch.randn(2, K, generator=gen, dtype=torch.float64)  # far apart
    ref_logp = torch.log_softmax(theta0, -1)
    g3 = _expected_penalty_gradient(theta, ref_logp, "k3")
    assert torch.allclose(g3, _exact_kl_gradient(theta, ref_logp, reverse=True), atol=1e-12)


def test_a_larger_kl_coef_pulls_harder_towards_pi_ref_with_either_estimator():
    gen = torch.Generator().manual_seed(2)
    theta0 = torch.randn(K, generator=gen, dtype=torch.float64)
    ref_logp = torch.log_softmax(theta0, -1)
    theta = theta0 + 0.3 * torch.randn(K, generator=gen, dtype=torch.float64)
    for kind in ("k1", "k3"):
        step = theta - 0.5 * _expected_penalty_gradient(theta, ref_logp, kind)  # a gradient step on the penalty
        before = (torch.log_softmax(theta, -1).exp() * (torch.log_softmax(theta, -1) - ref_logp)).sum()
        after = (torch.log_softmax(step, -1).exp() * (torch.log_softmax(step, -1) - ref_logp)).sum()
        assert after < before, kind


def test_the_kl_metric_is_k1_per_response_token_as_in_trl(one_thread):
    policy, tok = load_policy("assistant-sft")
    ref = copy.deepcopy(policy).eval()
    with torch.no_grad():
        ref.model.norm.weight.mul_(1.05)  # a reference the policy differs from
    cfg = RLConfig(num_generations=2, batch_size=4, max_new_tokens=24, progress=False)
    prompts = [p.text for p in world.train_prompts()[:2]]
    batch = {"prompt_idx": torch.tensor([0, 1]), "seed": torch.tensor(7)}
    _, metrics = rl_step(policy, ref, tok, batch, prompts, gold_reward_fn(), world.gold_rewards, cfg)
    _, enc = rollout(policy, tok, prompts, cfg, 7)  # the same samples (same seed)
    with torch.no_grad():
        k1 = (sequence_logps(policy, enc["input_ids"], enc["attention_mask"], enc["response_mask"])
              - sequence_logps(ref, enc["input_ids"], enc["attention_mask"], enc["response_mask"]))   # (B,)
    tokens = enc["response_mask"][:, 1:].sum()
    # TRL 1.16 RLOOTrainer: sum(per_token_kl * completion_mask) / completion_mask.sum()
    assert float(metrics["kl"]) == pytest.approx(float(k1.sum() / tokens), rel=1e-5, abs=1e-6)
    assert float(metrics["kl/k1"]) == pytest.approx(float(k1.mean()), rel=1e-5, abs=1e-6)
    assert abs(float(metrics["kl"]) - float(metrics["kl/k1"])) > 1e-3  # per token is not per sequence
