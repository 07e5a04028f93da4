"""Lab 3, policy shift under a KL budget: checkers for the best-of-n KL bound, beta for a budget, the
KL-penalized objective and an RLOO estimate of its gradient."""
from __future__ import annotations

import math

import numpy as np
import torch

from ...worlds.bandit import bon_kl_bound as _bon_kl_bound
from ._verdict import Verdict, report, run_student

BANDIT = ("prefkit.worlds.bandit.Bandit.",)  # the bandit handed in is there to be used


def bon_kl_bound(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(n) -> float``: KL(best-of-n || pi_ref) = log n - (n - 1)/n, its continuum-limit value."""
    name = "lab3.bon_kl_bound"
    ns = [1, 2, 4, 16, 64]
    got = []
    for n in ns:
        v, fail = run_student(name, fn, n)
        if fail is not None:
            return report(fail, verbose)
        got.append(float(v))
    want = [_bon_kl_bound(n) for n in ns]  # the package's closed form is the reference
    if np.allclose(got, want, atol=1e-9):
        return report(Verdict(name, True, "log n - (n - 1)/n"), verbose)
    if np.allclose(got, [math.log(n) for n in ns], atol=1e-9):
        return report(Verdict(name, False, "log n is the loose bound; the exact value is smaller",
                              "best-of-n keeps some mass on every answer, so the expected log density ratio stays "
                              "below its largest value log n: work out the expectation of the term in log u"),
                      verbose)
    if np.allclose(got, [math.log(n) + (n - 1) / n for n in ns], atol=1e-9):
        return report(Verdict(name, False, "the correction to log n has the wrong sign: the KL exceeds the log n "
                              "bound", "at n = 1 the KL must be 0"), verbose)
    if abs(got[0]) > 1e-9:
        return report(Verdict(name, False, f"at n = 1 it gives {got[0]:.4g}", "best-of-1 IS pi_ref: KL 0"), verbose)
    return report(Verdict(name, False, "the values do not match",
                          "check n = 1 (KL 0) and n = 2, where the integral is easy by hand; every value stays below "
                          "log n"), verbose)


def _bandit():
    from ...worlds.bandit import Bandit

    return Bandit.random(k=8, seed=5)


def beta_for_budget(fn, budget: float = 0.5, verbose: bool = True) -> Verdict:
    """Check ``fn(bandit, budget) -> beta``: the beta with KL(pi*(beta) || pi_ref) = budget (to 1e-3 nats)."""
    name = "lab3.beta_for_budget"
    bandit = _bandit()
    got, fail = run_student(name, fn, bandit, budget, allowed=BANDIT)
    if fail is not None:
        return report(fail, verbose)
    try:
        beta = float(got)
    except (TypeError, ValueError):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}", "return beta, a float"), verbose)
    if not beta > 0 or not math.isfinite(beta):
        return report(Verdict(name, False, f"beta = {beta} is not a positive number", "beta > 0"), verbose)
    kl = bandit.kl(bandit.optimal_policy(beta))
    if abs(kl - budget) < 1e-3:
        return report(Verdict(name, True, f"KL(pi*(beta) || pi_ref) = {kl:.4f} at the budget {budget}"), verbose)
    if kl > budget:
        return report(Verdict(name, False, f"pi*(beta) spends KL {kl:.3f}, over the budget {budget}",
                              "larger beta keeps pi* CLOSER to pi_ref: search towards larger beta"), verbose)
    return report(Verdict(name, False, f"pi*(beta) spends only KL {kl:.3f} of the budget {budget}",
                          "smaller beta moves further; KL falls monotonically as beta grows, so bisect (in log "
                          "beta) until KL matches the budget"), verbose)


def kl_penalized_objective(fn, beta: float = 0.3, verbose: bool = True) -> Verdict:
    """Check ``fn(logits, rewards, ref_probs, beta) -> scalar``: E_pi[r] - beta KL(pi || pi_ref), pi = softmax."""
    name = "lab3.kl_penalized_objective"
    g = torch.Generator().manual_seed(4)
    k = 7
    logits = torch.randn(k, generator=g, dtype=torch.float64).requires_grad_(True)
    rewards = torch.randn(k, generator=g, dtype=torch.float64)
    ref = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), -1)
    got, fail = run_student(name, fn, logits, rewards, ref, beta)
    if fail is not None:
        return report(fail, verbose)
    if not torch.is_tensor(got) or got.numel() != 1:
        return report(Verdict(name, False, "expected a scalar tensor", "keep it in torch so it can be maximized"),
                      verbose)
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    reward = (p * rewards).sum()
    kl = (p * (logp - ref.log())).sum()
    want = reward - beta * kl
    val = float(got.detach())

    def close(x):
        return abs(val - float(x.detach())) < 1e-8

    if close(want):
        if not got.requires_grad:
            return report(Verdict(name, False, "right value, but no gradient", "avoid .item() and numpy"), verbose)
        return report(Verdict(name, True, "E_pi[r] - beta KL(pi || pi_ref)"), verbose)
    mistakes = [
        (reward + beta * kl, "the KL term is added: this rewards moving away from pi_ref",
         "the penalty is subtracted"),
        (reward - kl / beta, "beta divides the KL instead of multiplying it", "beta is the price of one nat of KL"),
        (reward - beta * (ref * (ref.log() - logp)).sum(), "this is KL(pi_ref || pi), the reverse direction",
         "the penalty is KL(pi || pi_ref), an expectation under the policy"),
        (reward, "the KL penalty is missing", "without it the optimum is the greedy policy"),
        (-(reward - beta * kl), "the sign is flipped: this is a loss, but the objective is to be maximized",
         "return E[r] - beta KL"),
    ]
    for wrong, message, hint in mistakes:
        if close(wrong):
            return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, "the value does not match",
                          "try logits equal to log pi_ref: the KL must be 0 and the value the expected reward "
                          "under pi_ref; away from pi_ref, a larger beta must lower the value"), verbose)


def _rloo_reference(logits, actions, rewards, ref_probs, beta, *, baseline="others", kl_sign=-1.0, detach=True):
    """An RLOO estimate with the k1 penalty, or one of the usual mistakes: baseline "others" (RLOO), "all" (the
    sample's own reward in its baseline) or "none"; kl_sign=+1 adds the penalty; detach=False differentiates it."""
    theta = logits.detach().clone().requires_grad_(True)
    logp = torch.log_softmax(theta, -1)[actions]                                        # (k,)
    penalized = rewards[actions] + kl_sign * beta * (logp - ref_probs.log()[actions])    # (k,)
    weight = penalized.detach() if detach else penalized
    k = len(actions)
    if baseline == "others":
        weight = weight - (weight.sum() - weight).detach() / (k - 1)
    elif baseline == "all":
        weight = weight - weight.mean().detach()
    (grad,) = torch.autograd.grad((weight * logp).mean(), theta)
    return grad


def _expectation(estimate, probs: torch.Tensor, k: int):
    """Mean and total variance of ``estimate(actions)`` over every ordered draw of k actions, weighted exactly."""
    n = probs.shape[0]
    draws = torch.cartesian_prod(*[torch.arange(n)] * k).reshape(-1, k)                   # (n^k, k)
    weights = probs[draws].prod(-1)                                                       # (n^k,)
    values = [estimate(d) for d in draws]
    if not all(torch.is_tensor(v) and v.shape == probs.shape for v in values):
        return None, None
    values = torch.stack([v.detach().double() for v in values])                           # (n^k, n)
    mean = weights @ values
    variance = float(weights @ ((values - mean) ** 2).sum(-1))
    return mean, variance


def rloo_gradient(fn, beta: float = 0.5, k: int = 3, verbose: bool = True) -> Verdict:
    """Check ``fn(logits, actions, rewards, ref_probs, beta) -> (K,)``: the RLOO estimate, from the k sampled
    ``actions``, of the gradient of E_pi[r] - beta KL(pi || pi_ref) with respect to the logits, using the k1
    penalty r - beta (log pi - log pi_ref) as each sample's reward.

    No sampling noise: the checker averages the estimate over every possible draw of k actions, weighted by its
    exact probability, and compares that mean with the exact gradient (torch autograd on the closed-form objective)
    to a relative error of 1e-6; the total variance must not exceed RLOO's (by 1 %).
    """
    name = "lab3.rloo_gradient"
    g = torch.Generator().manual_seed(5)
    n = 4
    rewards = 3 + torch.rand(n, generator=g, dtype=torch.float64) * 2  # an offset: a baseline pays
    ref_probs = torch.softmax(torch.randn(n, generator=g, dtype=torch.float64), -1)
    logits = torch.randn(n, generator=g, dtype=torch.float64)
    probs = torch.softmax(logits, -1)
    calls = []

    def student(actions):
        out, fail = run_student(name, fn, logits.clone(), actions, rewards, ref_probs, beta)
        if fail is not None:
            calls.append(fail)
            raise StopIteration
        return out

    try:
        mean, variance = _expectation(student, probs, k)
    except StopIteration:
        return report(calls[0], verbose)
    if mean is None:
        return report(Verdict(name, False, f"it does not return a tensor of shape ({n},), one entry per logit",
                              "the gradient has the shape of the logits"), verbose)
    theta = logits.clone().requires_grad_(True)
    logp = torch.log_softmax(theta, -1)
    objective = (logp.exp() * rewards).sum() - beta * (logp.exp() * (logp - ref_probs.log())).sum()
    (exact,) = torch.autograd.grad(objective, theta)

    def rel(a):
        return float((a - exact).norm() / exact.norm())

    if rel(mean) <= 1e-6:
        rloo_var = _expectation(lambda a: _rloo_reference(logits, a, rewards, ref_probs, beta), probs, k)[1]
        if variance > 1.01 * rloo_var:
            return report(Verdict(name, False, f"unbiased, but its variance is {variance / rloo_var:.2g} times "
                                  "RLOO's: there is no leave-one-out baseline", "what can be subtracted from each "
                                  "sample's reward without moving the mean of the estimate?"), verbose)
        return report(Verdict(name, True, f"its mean over all draws of {k} equals the exact gradient (relative error "
                              "below 1e-6), at RLOO's variance"), verbose)
    mistakes = [
        ({"baseline": "all"}, "biased: each sample's own reward is in its baseline, which shrinks the gradient",
         "is the baseline of sample i independent of the action of sample i?"),
        ({"kl_sign": 1.0}, "biased: the KL penalty is added to the reward, not subtracted",
         "should moving away from pi_ref raise or lower a sample's reward?"),
        ({"detach": False}, "biased: the penalized reward is differentiated as well as the log-probability",
         "in a score-function estimate, which factor carries the gradient and which is a fixed weight?"),
    ]
    for options, message, hint in mistakes:
        simulated = _expectation(lambda a: _rloo_reference(logits, a, rewards, ref_probs, beta, **options), probs, k)
        if float((mean - simulated[0]).norm() / exact.norm()) <= 1e-6:
            return report(Verdict(name, False, message, hint), verbose)
    no_beta = _expectation(lambda a: _rloo_reference(logits, a, rewards, ref_probs, 1.0), probs, k)[0]
    if float((mean - no_beta).norm() / exact.norm()) <= 1e-6:
        return report(Verdict(name, False, "biased: beta is missing from the penalty",
                              "how strongly should the KL term count against the reward?"), verbose)
    if rel(-mean) <= 1e-6:
        return report(Verdict(name, False, "its mean is minus the gradient: it points downhill on the objective",
                              "the objective is maximized: which way should the estimate point?"), verbose)
    cosine = float(mean @ exact / (mean.norm() * exact.norm()))
    return report(Verdict(name, False, f"its mean over all draws differs from the exact gradient (relative error "
                          f"{rel(mean):.2g}, cosine {cosine:.3f})", "average the per-sample terms over the k "
                          "samples; each term is a weight times the gradient of that sample's log-probability"),
                  verbose)
