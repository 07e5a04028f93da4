"""Lab 4, DPO from scratch: checkers for the DPO loss and for response log-probs with masking."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...losses import preference_loss
from ._verdict import Verdict, report, run_student


def _close(a, b, tol=1e-6) -> bool:
    return torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=tol, rtol=tol)


def _dpo_inputs(seed: int = 0, batch: int = 32):
    g = torch.Generator().manual_seed(seed)
    logps = [-(torch.rand(batch, generator=g, dtype=torch.float64) * 30 + 1) for _ in range(4)]
    return [x.requires_grad_(True) for x in logps]


def dpo_loss(fn, beta: float = 0.1, verbose: bool = True) -> Verdict:
    """Check ``fn(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)``.

    It must return the per-pair DPO loss, shape (B,), as a tensor that keeps its gradient.
    """
    name = "lab4.dpo_loss"
    pc, pr, rc, rr = _dpo_inputs()
    got, fail = run_student(name, fn, pc, pr, rc, rr, beta)
    if fail is not None:
        return report(fail, verbose)
    want = preference_loss(pc - rc, pr - rr, beta, "dpo")
    h = (pc - rc) - (pr - rr)
    if not torch.is_tensor(got):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a tensor",
                              "keep the computation in torch so that gradients can flow"), verbose)
    if got.ndim == 0:
        ok = _close(got, want.mean())
        return report(Verdict(name, False, "it returned one number for the whole batch" +
                              (" (the right mean)" if ok else ""),
                              "return one loss per pair, shape (B,); the trainer takes the mean"), verbose)
    if _close(got, want):
        if not got.requires_grad:
            return report(Verdict(name, False, "the values are right but the result has no gradient",
                                  "avoid .item(), .detach() and numpy inside the loss"), verbose)
        return report(Verdict(name, True, "matches -log sigmoid(beta h) per pair"), verbose)
    mistakes = [
        (-F.logsigmoid(-beta * h), "the sign of beta h is flipped: this loss prefers the rejected answer",
         "which of y_w and y_l should get the larger implicit reward?"),
        (F.logsigmoid(beta * h), "the loss has the wrong sign (it is the log-likelihood, not its negative)",
         "a loss is minimized"),
        (-F.logsigmoid(h), "beta is missing", "the margin h is scaled by beta before the sigmoid"),
        (-F.logsigmoid(h / beta), "h is divided by beta instead of multiplied", "reread the implicit reward"),
        (-F.logsigmoid(beta * (pc - pr)), "the reference model is ignored",
         "DPO compares log-ratios log pi_theta - log pi_ref, not raw log-probs"),
        (-F.logsigmoid(beta * ((pc + rc) - (pr + rr))), "the reference log-probs are added, not subtracted",
         "logratio = log pi_theta(y|x) - log pi_ref(y|x)"),
    ]
    for wrong, message, hint in mistakes:
        if _close(got, wrong):
            return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, "the values do not match the DPO loss",
                          "write h = logratio(y_w) - logratio(y_l) first, then the loss of h"), verbose)


def _logps_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, t, v = 4, 9, 11
    logits = torch.randn(b, t, v, generator=g, dtype=torch.float64)
    ids = torch.randint(0, v, (b, t), generator=g)
    mask = torch.zeros(b, t, dtype=torch.long)
    for i, (start, end) in enumerate([(3, 9), (5, 8), (2, 6), (4, 9)]):  # prompt before start, padding after end
        mask[i, start:end] = 1
    return logits, ids, mask


def response_logps(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(logits, input_ids, response_mask) -> (B,)``: the SUM of log pi(token) over response tokens.

    logits[:, t] predicts input_ids[:, t + 1]; response_mask marks response tokens (prompt and padding are 0).
    """
    name = "lab4.response_logps"
    logits, ids, mask = _logps_inputs()
    got, fail = run_student(name, fn, logits, ids, mask)
    if fail is not None:
        return report(fail, verbose)
    logp = torch.gather(F.log_softmax(logits[:, :-1], -1), 2, ids[:, 1:, None]).squeeze(-1)   # (B, T-1)
    m = mask[:, 1:].double()
    want = (logp * m).sum(-1)
    if _close(got, want):
        return report(Verdict(name, True, "sums the log-probs of the response tokens only"), verbose)
    unshifted = torch.gather(F.log_softmax(logits, -1), 2, ids[..., None]).squeeze(-1)          # (B, T)
    mistakes = [
        ((logp * m).sum(-1) / m.sum(-1), "the log-probs are averaged where sums are asked",
         "log pi(y|x) of a sequence is the sum over its tokens; averaging changes the objective"),
        ((unshifted * mask).sum(-1), "the logits are not shifted: position t predicts token t + 1",
         "which token do the logits of the last position predict? Pair each position with the token after it"),
        (logp.sum(-1), "the mask is ignored, so prompt and padding tokens are scored too",
         "multiply by the response mask (shifted like the labels) before summing"),
        ((logp * mask[:, :-1].double()).sum(-1), "the mask is not shifted with the labels",
         "the mask must line up with the labels, not with the logits: shift it the same way"),
        ((logp * (1 - m)).sum(-1), "the mask is inverted: this scores the prompt and padding",
         "response_mask is 1 on response tokens"),
    ]
    for wrong, message, hint in mistakes:
        if _close(got, wrong):
            return report(Verdict(name, False, message, hint), verbose)
    if torch.is_tensor(got) and got.shape != want.shape:
        return report(Verdict(name, False, f"the result has shape {tuple(got.shape)}, expected {tuple(want.shape)}",
                              "one number per sequence"), verbose)
    return report(Verdict(name, False, "the values do not match the summed response log-probs",
                          "log_softmax over the vocabulary, gather the next token, mask, sum"), verbose)


TRL_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")


def dpo_metrics(fn, beta: float = 0.1, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_logratios, rejected_logratios, beta) -> dict``: TRL's four reward metrics, batch means.

    rewards/chosen and rewards/rejected are the mean implicit rewards beta * logratio, rewards/margins the mean
    of their difference, rewards/accuracies the share of pairs whose chosen reward is strictly larger.
    """
    name = "lab4.dpo_metrics"
    g = torch.Generator().manual_seed(3)
    cw, cl = (torch.randn(64, generator=g, dtype=torch.float64) * 4 for _ in range(2))
    cl[:4] = cw[:4]  # ties: a pair whose two rewards are equal is not counted as correct
    got, fail = run_student(name, fn, cw, cl, beta)
    if fail is not None:
        return report(fail, verbose)
    if not isinstance(got, dict):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a dict",
                              f"return a dict with the keys {', '.join(TRL_METRICS)}"), verbose)
    missing = [k for k in TRL_METRICS if k not in got]
    if missing:
        return report(Verdict(name, False, f"missing key(s) {missing}",
                              "use TRL's metric names exactly, slash included"), verbose)
    rw, rl = beta * cw, beta * cl
    want = {"rewards/chosen": rw.mean(), "rewards/rejected": rl.mean(), "rewards/accuracies": (rw > rl).double().mean(),
            "rewards/margins": (rw - rl).mean()}
    val = {k: float(got[k]) for k in TRL_METRICS}
    wrong = [k for k in TRL_METRICS if abs(val[k] - float(want[k])) > 1e-6]
    if not wrong:
        return report(Verdict(name, True, "the four reward metrics match TRL's definitions"), verbose)
    k = wrong[0]
    if k in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
        raw = {"rewards/chosen": cw.mean(), "rewards/rejected": cl.mean(), "rewards/margins": (cw - cl).mean()}[k]
        if abs(val[k] - float(raw)) < 1e-6:
            return report(Verdict(name, False, f"{k} is the log-ratio itself, not the implicit reward",
                                  "the implicit reward of DPO scales the log-ratio by beta"), verbose)
        if abs(val[k] + float(want[k])) < 1e-6:
            return report(Verdict(name, False, f"{k} has the wrong sign", "margin = chosen minus rejected"), verbose)
    if k == "rewards/accuracies":
        if abs(val[k] - float((rw >= rl).double().mean())) < 1e-6:
            return report(Verdict(name, False, "rewards/accuracies counts ties as correct",
                                  "a pair is ranked correctly only when the chosen reward is strictly larger"), verbose)
        if abs(val[k] - float((rw > rl).double().sum())) < 1e-6:
            return report(Verdict(name, False, "rewards/accuracies is a count, not a share",
                                  "take the mean over pairs"), verbose)
    return report(Verdict(name, False, f"{k} is {val[k]:.4g}, which does not match its definition",
                          "implicit reward = beta * logratio; average over the pairs of the batch"), verbose)
