"""Lab 3, policy shift under a KL budget: checkers for the best-of-n KL bound, beta for a budget and the
KL-penalized objective."""
from __future__ import annotations

import math

import numpy as np
import torch

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
    want = [math.log(n) - (n - 1) / n for n in ns]
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
