"""Lab 5, noise robustness: checkers for conservative DPO (cDPO) and robust DPO (rDPO)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...losses import preference_loss
from ._verdict import Verdict, report, run_student


def _inputs(seed: int = 1, batch: int = 32):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, generator=g, dtype=torch.float64) * 5).requires_grad_(True) for _ in range(2)]


def _check(name, fn, kind, beta, eps, mistakes_for, verbose):
    cw, cl = _inputs()
    got, fail = run_student(name, fn, cw, cl, beta, eps)
    if fail is not None:
        return report(fail, verbose)
    want = preference_loss(cw, cl, beta, kind, eps)
    close = lambda a, b: torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=1e-6)
    if close(got, want):
        if not got.requires_grad:
            return report(Verdict(name, False, "the values are right but the result has no gradient",
                                  "keep the computation in torch"), verbose)
        return report(Verdict(name, True, f"matches the {kind} loss at eps={eps}"), verbose)
    h = cw - cl
    for wrong, message, hint in mistakes_for(h, beta, eps):
        if close(got, wrong):
            return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, f"the values do not match the {kind} loss",
                          "write it with l(z) = -log sigmoid(z) and z = beta h"), verbose)


def cdpo_loss(fn, beta: float = 0.1, eps: float = 0.2, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_logratios, rejected_logratios, beta, eps) -> (B,)``: conservative DPO."""
    def mistakes(h, beta, eps):
        dpo = -F.logsigmoid(beta * h)
        return [
            (dpo, "eps is ignored: this is plain DPO", "with probability eps the label is wrong"),
            (-eps * F.logsigmoid(beta * h) - (1 - eps) * F.logsigmoid(-beta * h),
             "the weights of the two terms are swapped", "the observed label keeps weight 1 - eps"),
            ((-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)),
             "the flipped term has the wrong sign", "both terms are losses of the form -log sigmoid"),
        ]
    return _check("lab5.cdpo_loss", fn, "cdpo", beta, eps, mistakes, verbose)


def rdpo_loss(fn, beta: float = 0.1, eps: float = 0.2, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_logratios, rejected_logratios, beta, eps) -> (B,)``: robust DPO (Chowdhury et al.)."""
    def mistakes(h, beta, eps):
        l_pos, l_neg = -F.logsigmoid(beta * h), -F.logsigmoid(-beta * h)
        return [
            ((1 - eps) * l_pos - eps * l_neg, "the 1 / (1 - 2 eps) normalization is missing",
             "without it the loss is not an unbiased estimate of the clean loss"),
            ((1 - eps) * l_pos + eps * l_neg, "this is cDPO (a plus sign), not rDPO",
             "rDPO subtracts the flipped term and renormalizes"),
            (((1 - eps) * l_pos + eps * l_neg) / (1 - 2 * eps), "the flipped term is added instead of subtracted",
             "rDPO corrects for flips by subtracting eps l(-beta h)"),
            (l_pos, "eps is ignored: this is plain DPO", "model the flip probability eps"),
        ]
    return _check("lab5.rdpo_loss", fn, "rdpo", beta, eps, mistakes, verbose)
