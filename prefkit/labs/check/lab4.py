"""Lab 4, DPO from scratch: checkers for the DPO loss, response log-probs with masking, the reward metrics, and a
training step and loop compared with prefkit's own step and trainer."""
from __future__ import annotations

import copy

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


# ------------------------------------------------------------------ the training step and the loop (4.4, 4.5)
STEPS, LR = 4, 1e-3


def _as_loss(value) -> float | None:
    """The loss a student's function returned, as a float (None when it is not a number)."""
    try:
        return float(value.detach()) if torch.is_tensor(value) else float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _moved(before, model) -> bool:
    return any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))


def _simulated(s, beta: float, *mistakes: str):
    """The losses of prefkit's step with each named mistake built in, with what to tell a student whose losses
    match them (computed only when asked for)."""
    from . import _dpo_runs

    known = {
        "accumulates": ({"zero_grad": False}, "the gradients of earlier steps are added to each new one",
                        "backward() adds to .grad; what must happen to the old gradients before a new backward?"),
        "fresh optimizer": ({"fresh_optimizer": True},
                            "the optimizer is built anew at every step, so AdamW forgets its running averages",
                            "which objects must live across the steps of a loop, and which are made once per step?"),
    }
    for mistake in mistakes:
        options, message, hint = known[mistake]
        yield _dpo_runs.step_losses(s.policy, s.ref, s.batch, STEPS, LR, beta, **options), message, hint


def _diverging_losses(name: str, got: list[float], want: list[float], runs) -> Verdict:
    """A failing verdict for losses that leave prefkit's from some step on, named by the simulated mistake (from
    ``runs``, an iterable of (losses, message, hint)) they match when one does."""
    first = next(i for i, (a, b) in enumerate(zip(got, want)) if abs(a - b) > 1e-4)
    shown = ", ".join(f"{x:.4f}" for x in got)
    if first == 0:
        return Verdict(name, False, f"the loss of the first step, before any update, is {got[0]:.4f} where prefkit's "
                       f"trainer has {want[0]:.4f}", "at step 0 the policy equals pi_ref: what must every log-ratio "
                       "be, and what does that make the loss of each pair and their mean?")
    for simulated, message, hint in runs:
        if all(abs(a - b) <= 1e-4 for a, b in zip(got, simulated)):
            return Verdict(name, False, message, hint)
    if got[-1] > got[0] + 1e-4:
        return Verdict(name, False, f"the loss rises from step to step ({shown}): the update climbs the loss",
                       "which quantity does backward() differentiate, and does the optimizer descend it?")
    return Verdict(name, False, f"the losses match prefkit's at the first step but not from step {first + 1} on "
                   f"({shown} against " + ", ".join(f"{x:.4f}" for x in want) + ")",
                   "the first step only checks the loss; what else shapes the update: which parameters the optimizer "
                   "holds, its learning rate, and what the gradient is taken of?")


def _run_steps(name: str, fn, model, ref, batch: dict, optimizer, *args, allowed: tuple[str, ...] = ()):
    """STEPS calls ``fn(model, ref, batch, optimizer, *args)`` of a student's training step: ``(losses, None)``, or
    ``(None, failing Verdict)`` at the first step that returns no loss, lets gradients into pi_ref or changes
    nothing. Labs 4 (DPO) and 5 (rDPO) check their steps with it."""
    got = []
    for _ in range(STEPS):
        before = [p.detach().clone() for p in model.parameters()]
        out, fail = run_student(name, fn, model, ref, batch, optimizer, *args, allowed=allowed)
        if fail is not None:
            return None, fail
        loss = _as_loss(out)
        if loss is None:
            return None, Verdict(name, False, f"it returned a {type(out).__name__}, not the loss",
                                 "return the loss of the batch, as a number or a one-element tensor")
        got.append(loss)
        if any(p.grad is not None for p in ref.parameters()):
            return None, Verdict(name, False, "gradients flow into pi_ref: its forward pass builds a graph",
                                 "pi_ref is a fixed target in DPO; which context manager keeps torch from "
                                 "recording its forward pass?")
        if not _moved(before, model):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if not grads or all(float(g.abs().sum()) == 0 for g in grads):
                return None, Verdict(name, False, "the parameters did not change and hold no gradient",
                                     "after the loss, which call computes the gradients, and is anything clearing "
                                     "them before the optimizer uses them?")
            return None, Verdict(name, False, "the gradients were computed but the parameters did not change",
                                 "which call applies the gradients to the parameters?")
    return got, None


def dpo_train_step(fn, beta: float = 0.1, verbose: bool = True) -> Verdict:
    """Check ``fn(policy, ref, batch, optimizer, beta) -> loss``: one DPO training step on a preference batch.

    The checker runs STEPS steps of ``fn`` on the shipped policy and a few clean pairs with an AdamW optimizer
    (lr LR) it builds itself, and compares the loss of every step with prefkit's own step
    (``prefkit.train.dpo.dpo_step``) run the same way: they must agree within 1e-4. ``pi_ref`` is handed in with
    gradients switched on, so that a reference scored outside ``torch.no_grad()`` shows.
    """
    from . import _dpo_runs

    name = "lab4.dpo_train_step"
    s = _dpo_runs.setup()
    model = copy.deepcopy(s.policy).train()
    ref = copy.deepcopy(s.ref).requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    got, fail = _run_steps(name, fn, model, ref, s.batch, optimizer, beta)
    if fail is not None:
        return report(fail, verbose)
    want = _dpo_runs.step_losses(s.policy, s.ref, s.batch, STEPS, LR, beta)
    if all(abs(a - b) <= 1e-4 for a, b in zip(got, want)):
        return report(Verdict(name, True, f"{STEPS} steps match prefkit's DPO step within 1e-4"), verbose)
    return report(_diverging_losses(name, got, want, _simulated(s, beta, "accumulates")), verbose)


def dpo_train(fn, beta: float = 0.1, verbose: bool = True) -> Verdict:
    """Check ``fn(policy, ref, batch, steps, lr, beta) -> list of losses``: a short DPO training loop on one batch.

    The loop trains ``policy`` in place with AdamW (constant learning rate, no weight decay, no clipping) and
    returns the loss of each step. The checker runs it for STEPS steps on the shipped policy and a few clean pairs
    and compares the losses with those prefkit's trainer (``prefkit.train.dpo.dpo``) logs on the same pairs with
    the same settings: within 1e-4 at every step.
    """
    from . import _dpo_runs

    name = "lab4.dpo_train"
    s = _dpo_runs.setup()
    model = copy.deepcopy(s.policy).train()
    before = [p.detach().clone() for p in model.parameters()]
    out, fail = run_student(name, fn, model, s.ref, s.batch, STEPS, LR, beta)
    if fail is not None:
        return report(fail, verbose)
    losses = [_as_loss(x) for x in out] if isinstance(out, (list, tuple)) else None
    if losses is None or None in losses:
        return report(Verdict(name, False, f"it returned a {type(out).__name__}, not a list of losses",
                              "collect the loss of each step in a list and return it"), verbose)
    if len(losses) != STEPS:
        return report(Verdict(name, False, f"it returned {len(losses)} losses for {STEPS} steps",
                              "one loss per optimizer step"), verbose)
    if not _moved(before, model):
        return report(Verdict(name, False, "the policy handed in did not change", "train the policy you are given, "
                              "in place: which parameters does your optimizer hold?"), verbose)
    want = _dpo_runs.trainer_losses(s.policy, s.ref, s.tokenizer, s.pairs, STEPS, LR, beta)
    if all(abs(a - b) <= 1e-4 for a, b in zip(losses, want)):
        return report(Verdict(name, True, f"{STEPS} losses match prefkit's DPO trainer within 1e-4"), verbose)
    return report(_diverging_losses(name, losses, want, _simulated(s, beta, "fresh optimizer", "accumulates")),
                  verbose)
