"""Chapter 05, noisy preferences: a checker for the expected loss of a pair under label flips."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...losses import preference_loss
from ._verdict import Verdict, report, run_student


def expected_flip_loss(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(loss, h, eps) -> (B,)``: E over flips of ``loss``, (1 - eps) loss(h) + eps loss(-h).

    ``loss`` maps margins h (B,) to per-pair losses (B,); a flip swaps y_w and y_l, which negates h. Checked on
    random margins with three losses of ``prefkit.losses.preference_loss``, and on the closed form that makes
    rDPO robust: the expected rDPO loss is the clean DPO loss, -log sigmoid(beta h), exactly.
    """
    name = "chapter05.expected_flip_loss"
    beta, eps = 0.1, 0.3
    h = torch.randn(24, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 20  # (B,)
    losses = {kind: (lambda m, k=kind: preference_loss(m, torch.zeros_like(m), beta, k, eps if k != "dpo" else 0.0))
              for kind in ("dpo", "cdpo", "rdpo")}
    for kind, loss in losses.items():
        got, fail = run_student(name, fn, loss, h.clone(), eps)
        if fail is not None:
            return report(fail, verbose)
        if not torch.is_tensor(got) or got.shape != h.shape:
            shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
            return report(Verdict(name, False, f"it returned {shape}, expected a tensor of shape {tuple(h.shape)}",
                                  "return one expected loss per pair, do not average"), verbose)
        want = (1 - eps) * loss(h) + eps * loss(-h)
        if torch.allclose(got, want, rtol=1e-9, atol=1e-9):
            continue
        mistakes = [
            (eps * loss(h) + (1 - eps) * loss(-h), "the weights are swapped",
             "the recorded label is right with probability 1 - eps"),
            ((1 - eps) * loss(h) + eps * loss(h), "the flipped pair is scored with the same margin h",
             "a flip swaps y_w and y_l: the margin becomes -h"),
            (loss(h) + eps * loss(-h), "the unflipped term is missing its weight 1 - eps",
             "the two probabilities must sum to 1"),
            ((1 - eps) * loss(h) - eps * loss(-h), "the flipped term is subtracted", "an expectation adds its terms"),
        ]
        for wrong, message, hint in mistakes:
            if torch.allclose(got, wrong, rtol=1e-9, atol=1e-9):
                return report(Verdict(name, False, f"{message} (with the {kind} loss)", hint), verbose)
        return report(Verdict(name, False, f"the values do not match the expected {kind} loss under flips at "
                              f"eps = {eps}", "at eps = 0 the answer is loss(h) itself; at eps = 1/2 it is "
                              "symmetric in h"), verbose)
    clean = -F.logsigmoid(beta * h)
    got = fn(losses["rdpo"], h.clone(), eps)
    if not torch.allclose(got, clean, rtol=1e-7, atol=1e-9):  # follows from the check above; kept as the closed form
        return report(Verdict(name, False, "the expected rDPO loss is not the clean DPO loss",
                              "compare with -log sigmoid(beta h)"), verbose)
    return report(Verdict(name, True, "(1 - eps) loss(h) + eps loss(-h); the expected rDPO loss equals the clean DPO "
                          "loss, as it should"), verbose)
