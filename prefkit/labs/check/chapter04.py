"""Chapter 04, DPO: a checker for the gradient weight DPO puts on each pair.

The chapter's exercise cell holds the solution between ``### BEGIN SOLUTION`` / ``### END SOLUTION``; the checker
compares the student's weight with the gradient of prefkit's DPO loss, taken by autograd.
"""
from __future__ import annotations

import torch

from ...losses import preference_loss
from ._verdict import Verdict, report, run_student


def _pairs(seed: int = 3, batch: int = 16) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [-(torch.rand(batch, generator=g, dtype=torch.float64) * 20 + 1) for _ in range(4)]  # 4 x (B,)


def dpo_gradient_weight(fn, beta: float = 0.5, verbose: bool = True) -> Verdict:
    """Check ``fn(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta) -> (B,)``:
    the weight sigma(-beta h) that DPO's gradient puts on each pair, h = logratio(y_w) - logratio(y_l).

    The reference is autograd on prefkit's DPO loss: -dL/d logratio(y_w) = beta * weight, per pair (to 1e-9).
    """
    name = "chapter04.dpo_gradient_weight"
    pc, pr, rc, rr = _pairs()
    got, fail = run_student(name, fn, pc.clone(), pr.clone(), rc.clone(), rr.clone(), beta)
    if fail is not None:
        return report(fail, verbose)
    if not torch.is_tensor(got) or got.shape != pc.shape:
        shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
        return report(Verdict(name, False, f"expected a tensor of shape ({pc.shape[0]},), one weight per pair, got "
                              f"{shape}", "return one weight per pair"), verbose)
    chosen = (pc - rc).requires_grad_(True)  # (B,) logratio(y_w)
    preference_loss(chosen, pr - rr, beta, kind="dpo").sum().backward()
    want = -chosen.grad / beta  # (B,)
    got = got.detach().double()

    def close(x):
        return torch.allclose(got, x, atol=1e-9, rtol=1e-9)

    h = (pc - rc) - (pr - rr)
    if close(want):
        return report(Verdict(name, True, "sigma(-beta h) per pair: the autograd gradient of the DPO loss, over beta"),
                      verbose)
    mistakes = [
        (torch.sigmoid(beta * h), "this is sigma(beta h), the probability the pair is already ordered right",
         "the weight is large when the implicit reward orders the pair the WRONG way"),
        (torch.sigmoid(-h), "beta is missing", "the margin is beta h, the difference of the implicit rewards"),
        (beta * torch.sigmoid(-beta * h), "this is the whole derivative, beta times the weight",
         "the weight is the factor in front of (grad log pi(y_w) - grad log pi(y_l)) after beta is taken out"),
        (torch.sigmoid(-beta * (pc - pr)), "the reference model is ignored",
         "the implicit reward is beta (log pi_theta - log pi_ref)"),
        (torch.sigmoid(-beta * ((pc + rc) - (pr + rr))), "the reference log-probs are added, not subtracted",
         "logratio = log pi_theta(y|x) - log pi_ref(y|x)"),
    ]
    for wrong, message, hint in mistakes:
        if close(wrong):
            return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, "the weights do not match",
                          "a pair with h = 0 gets weight 1/2; the weight falls as h grows and never reaches 0"), verbose)


__all__ = ["dpo_gradient_weight"]
