"""Chapter 03, policy shift under a KL budget: a checker for the k3 estimator of KL(pi || pi_ref).

The chapter's exercise cell holds the solution between ``### BEGIN SOLUTION`` / ``### END SOLUTION``; the checker
compares the student's function with the exact KL of a bandit, where every response can be enumerated.
"""
from __future__ import annotations

import numpy as np
import torch

from ._verdict import Verdict, report, run_student


def _bandit_logps(beta: float = 0.7, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """log pi(y), log pi_ref(y) and pi(y) for every response of a random bandit, pi = pi*(beta); the exact KL."""
    from ...worlds.bandit import Bandit

    bandit = Bandit.random(k=8, seed=seed)
    pi = bandit.optimal_policy(beta)
    logp, logq = torch.log(torch.as_tensor(pi)), torch.log(torch.as_tensor(bandit.ref_probs))  # (K,), (K,)
    return logp, logq, torch.as_tensor(pi), float(bandit.kl(pi))


def k3_estimator(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(policy_logps, ref_logps) -> (N,)``: Schulman's k3 = (rho - 1) - log rho per sample,
    rho = pi_ref(y) / pi(y), from the log-probabilities of responses y ~ pi.

    Checked by enumeration: the function is given every response of an 8-response bandit, so its values weighted
    by pi(y) must sum to KL(pi || pi_ref) exactly (unbiased), and each value must be >= 0 and equal k3 (to 1e-9).
    """
    name = "chapter03.k3_estimator"
    logp, logq, pi, exact = _bandit_logps()
    got, fail = run_student(name, fn, logp.clone(), logq.clone())
    if fail is not None:
        return report(fail, verbose)
    if not torch.is_tensor(got):
        try:
            got = torch.as_tensor(np.asarray(got, dtype=np.float64))
        except (TypeError, ValueError):
            return report(Verdict(name, False, f"it returned a {type(got).__name__}", "return a tensor, one value "
                                  "per sample"), verbose)
    if got.shape != logp.shape:
        return report(Verdict(name, False, f"it returned shape {tuple(got.shape)} for {logp.shape[0]} samples",
                              "return one value per sample, shape (N,); the estimate is their mean"), verbose)
    got = got.detach().double()
    mean = float((pi * got).sum())  # E_pi of the student's per-sample values, by enumeration
    logr = logq - logp
    want = torch.expm1(logr) - logr
    if torch.allclose(got, want, atol=1e-9, rtol=1e-9):
        return report(Verdict(name, True, f"E_pi[k3] = {mean:.6f} = KL(pi || pi_ref) by enumeration, every value "
                              ">= 0"), verbose)
    mistakes = [
        (-logr, "this is k1: unbiased, but negative on some samples", "k3 adds (rho - 1), whose mean under pi is 0, "
         "and makes every value >= 0"),
        (0.5 * logr ** 2, "this is k2: low variance but biased", "k3 = (rho - 1) - log rho"),
        (torch.expm1(-logr) + logr, "the ratio is upside down: rho = pi(y) / pi_ref(y) estimates a different "
         "quantity", "with samples from pi, E_pi[pi_ref / pi] = 1: that is the ratio whose mean is known"),
        (torch.exp(logr) - logr, "the -1 is missing: the mean is KL + 1", "E_pi[rho] = 1, so (rho - 1) has mean 0"),
        (-(torch.expm1(logr) - logr), "the sign is flipped: the values are <= 0", "a KL is never negative"),
    ]
    for wrong, message, hint in mistakes:
        if torch.allclose(got, wrong, atol=1e-9, rtol=1e-9):
            return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, f"E_pi of its values is {mean:.4f}, the exact KL is {exact:.4f}",
                          "with log rho = log pi_ref(y) - log pi(y), k3 = (exp(log rho) - 1) - log rho"), verbose)


__all__ = ["k3_estimator"]
