"""Lab 2, reward models as proxies: checkers for pairwise accuracy, the accuracy ceiling, the Goodhart point, and a
Bradley-Terry reward head with its training step (trained a few steps on the shipped policy's features)."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ...evaluate.reward_audit import accuracy_ceiling as reference_accuracy_ceiling
from ...evaluate.reward_audit import pairwise_accuracy as reference_pairwise_accuracy
from ._verdict import Verdict, report, run_student


def _num(x):
    try:
        return float(x), None
    except (TypeError, ValueError):
        return None, f"it returned a {type(x).__name__}, not a number"


def pairwise_accuracy(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_rewards, rejected_rewards) -> float``: share of pairs with r(y_w) > r(y_l), a tie counted
    1/2 (the reference is ``prefkit.evaluate.reward_audit.pairwise_accuracy``)."""
    name = "lab2.pairwise_accuracy"
    rng = np.random.default_rng(0)
    r_w, r_l = rng.normal(size=50), rng.normal(size=50)
    r_l[:6] = r_w[:6]  # ties: a reward model that cannot separate two answers has guessed, right half the time
    got, fail = run_student(name, fn, r_w.copy(), r_l.copy())
    if fail is not None:
        return report(fail, verbose)
    val, err = _num(got)
    if err:
        return report(Verdict(name, False, err, "return the share as a float"), verbose)
    if abs(val - reference_pairwise_accuracy(r_w, r_l)) < 1e-9:
        return report(Verdict(name, True, "share of pairs ranked right, a tie counted 1/2"), verbose)
    if abs(val - float(np.mean(r_w > r_l))) < 1e-9:
        return report(Verdict(name, False, "ties are counted as wrong",
                              "a constant reward model would score 0% that way, below chance: a tie is a coin flip"),
                      verbose)
    if abs(val - float(np.mean(r_w >= r_l))) < 1e-9:
        return report(Verdict(name, False, "ties are counted as correct",
                              "a constant reward model would score 100% that way: a tie is a coin flip"), verbose)
    if abs(val - float(np.sum(r_w > r_l) + 0.5 * np.sum(r_w == r_l))) < 1e-9:
        return report(Verdict(name, False, "this is a count, not a share", "divide by the number of pairs"), verbose)
    if abs(val - reference_pairwise_accuracy(r_l, r_w)) < 1e-9:
        return report(Verdict(name, False, "the comparison is reversed", "the chosen answer should score higher"),
                      verbose)
    return report(Verdict(name, False, "the value does not match",
                          "try four pairs by hand, two ranked right, one wrong and one tie: that should give 5/8"),
                  verbose)


def accuracy_ceiling(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(p_prefers) -> float``: the best agreement any model can reach with labels drawn with
    P(label = y_w) = p per pair, i.e. mean(max(p, 1 - p)) (the reference is
    ``prefkit.evaluate.reward_audit.accuracy_ceiling``)."""
    name = "lab2.accuracy_ceiling"
    p = np.array([0.5, 0.9, 0.2, 0.7, 0.55, 0.05, 0.99, 0.35])
    got, fail = run_student(name, fn, p.copy())
    if fail is not None:
        return report(fail, verbose)
    val, err = _num(got)
    if err:
        return report(Verdict(name, False, err, "return one float"), verbose)
    want = reference_accuracy_ceiling(p)
    if abs(val - want) < 1e-9:
        return report(Verdict(name, True, "mean over pairs of the likelier label's probability"), verbose)
    if abs(val - float(p.mean())) < 1e-9:
        return report(Verdict(name, False, "this is the mean probability of the recorded label, not the ceiling",
                              "the best model predicts the likelier label of each pair, whichever it is"), verbose)
    if abs(val - float((p > 0.5).mean())) < 1e-9:
        return report(Verdict(name, False, "this counts pairs where y_w is likelier, not how often labels agree",
                              "for a pair with p = 0.3, which label does the best model predict, and how often does "
                              "the recorded label agree with it?"), verbose)
    if abs(val - 1.0) < 1e-9:
        return report(Verdict(name, False, "the ceiling is below 1 as soon as any label is uncertain",
                              "a pair with p = 0.5 is a coin flip: what agreement can any model expect on it?"),
                      verbose)
    return report(Verdict(name, False, "the value does not match",
                          "work one pair out by hand: with p = 0.3, which label should a model predict and how often "
                          "is it right? The ceiling averages that over the pairs"), verbose)


def goodhart_point(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(ns, proxy, gold) -> n``: the n where the gold reward of best-of-n peaks (first one on ties)."""
    name = "lab2.goodhart_point"
    ns = [1, 2, 4, 8, 16, 32, 64]
    proxy = [0.1, 0.4, 0.7, 0.9, 1.05, 1.15, 1.2]
    gold = [0.1, 0.3, 0.42, 0.45, 0.45, 0.38, 0.2]
    got, fail = run_student(name, fn, list(ns), list(proxy), list(gold))
    if fail is not None:
        return report(fail, verbose)
    if got == 8:
        return report(Verdict(name, True, "the n at which the true reward stops improving"), verbose)
    if got == 64:
        return report(Verdict(name, False, "this is where the proxy peaks (the largest n): the proxy keeps "
                              "rising while the true reward falls", "look at the gold curve"), verbose)
    if got == 16:
        return report(Verdict(name, False, "on a tie, take the smallest n", "less optimization for the same gold"),
                      verbose)
    if got in (3, 4):
        return report(Verdict(name, False, "this is an index into ns, not n itself", "return ns[i]"), verbose)
    return report(Verdict(name, False, f"{got!r} is not where gold peaks", "argmax of gold over ns"), verbose)


# ------------------------------------------------------------ a Bradley-Terry reward head and its step (2.4, 2.5)
HEAD_STEPS, HEAD_LR, SGD_LR = 60, 1e-2, 0.1


def _features():
    from ..reward_features import shipped_features

    return shipped_features()


def _reference_loss(head, f_w, f_l) -> torch.Tensor:
    """The mean Bradley-Terry loss of a head on pairs of features: what a correct step differentiates."""
    return -F.logsigmoid(head(f_w).reshape(-1) - head(f_l).reshape(-1)).mean()


def _reference_step(head, f_w, f_l, optimizer) -> float:
    optimizer.zero_grad()
    loss = _reference_loss(head, f_w, f_l)
    loss.backward()
    optimizer.step()
    return loss.item()


def _linear_head(hidden: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(hidden, 1), torch.nn.Flatten(0))


def _held_out(head, feats) -> tuple[float, float]:
    """Held-out pairwise accuracy (ties 1/2) and the margin above chance it must clear: 3 standard errors."""
    with torch.no_grad():
        acc = reference_pairwise_accuracy(head(feats["test_w"]).reshape(-1), head(feats["test_l"]).reshape(-1))
    return acc, 3 * float(np.sqrt(0.25 / len(feats["test_w"])))


def _train(name, step, head, feats):
    """HEAD_STEPS Adam steps of ``step`` on the training features; (losses, failing Verdict or None)."""
    optimizer = torch.optim.Adam(head.parameters(), lr=HEAD_LR)
    losses = []
    for _ in range(HEAD_STEPS):
        out, fail = run_student(name, step, head, feats["train_w"], feats["train_l"], optimizer)
        if fail is not None:
            return losses, fail
        losses.append(float(out))
    return losses, None


def reward_head(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(hidden_size) -> torch.nn.Module``: a head mapping features (B, H) to one reward each, (B,).

    Behaviour, not a formula: the checker trains the head HEAD_STEPS Adam steps with a Bradley-Terry step of its
    own on the shipped policy's features of 256 ``length`` training pairs, and requires the loss to fall and the
    held-out accuracy on 256 test pairs to clear chance by 3 standard errors.
    """
    name = "lab2.reward_head"
    feats = _features()
    hidden = feats["train_w"].shape[1]
    torch.manual_seed(0)
    head, fail = run_student(name, fn, hidden)
    if fail is not None:
        return report(fail, verbose)
    if not isinstance(head, torch.nn.Module):
        return report(Verdict(name, False, f"it returned a {type(head).__name__}, not a torch.nn.Module",
                              "build the module and return it, untrained"), verbose)
    params = [p for p in head.parameters() if p.requires_grad]
    if not params:
        return report(Verdict(name, False, "the head has no trainable parameters", "what does training adjust?"),
                      verbose)
    try:
        r = head(feats["train_w"][:5])
    except Exception as exc:  # a head that cannot read (B, H) features
        return report(Verdict(name, False, f"calling it on features of shape (5, {hidden}) raised "
                              f"{type(exc).__name__}: {exc}", "its input is one feature vector per response"), verbose)
    if not torch.is_tensor(r) or tuple(r.shape) != (5,):
        shape = tuple(r.shape) if torch.is_tensor(r) else type(r).__name__
        return report(Verdict(name, False, f"on 5 responses it returned {shape}, not shape (5,)",
                              "one scalar reward per response: what shape does a layer with one output give, and how "
                              "do you drop the last axis?"), verbose)
    optimizer = torch.optim.Adam(head.parameters(), lr=HEAD_LR)
    try:
        losses = [_reference_step(head, feats["train_w"], feats["train_l"], optimizer) for _ in range(HEAD_STEPS)]
    except Exception as exc:  # e.g. a head whose output does not depend on its parameters
        return report(Verdict(name, False, f"training it raised {type(exc).__name__}: {exc}",
                              "does its output carry a gradient to its parameters?"), verbose)
    acc, margin = _held_out(head, feats)
    if not losses[-1] < losses[0] - 0.05:
        return report(Verdict(name, False, f"trained {HEAD_STEPS} steps, the loss went from {losses[0]:.3f} to "
                              f"{losses[-1]:.3f}", "can the reward move when the features move? A head whose output "
                              "does not depend on its input, or is squashed flat, cannot learn"), verbose)
    if acc <= 0.5 + margin:
        return report(Verdict(name, False, f"trained, it ranks {acc:.1%} of held-out pairs right, not clearly above "
                              f"chance (needs > {0.5 + margin:.1%})", "does the reward depend on every feature, "
                              "without a nonlinearity that kills half of them?"), verbose)
    return report(Verdict(name, True, f"trained with a Bradley-Terry step, the loss falls {losses[0]:.3f} -> "
                          f"{losses[-1]:.3f} and it ranks {acc:.1%} of held-out pairs right"), verbose)


def _param_vector(head) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in head.parameters()])


def _grad_vector(head, f_w, f_l) -> torch.Tensor:
    probe = copy.deepcopy(head)
    grads = torch.autograd.grad(_reference_loss(probe, f_w, f_l), list(probe.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


def bt_train_step(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(head, features_w, features_l, optimizer) -> loss``: one Bradley-Terry training step.

    With plain SGD (lr SGD_LR) the update of every parameter is -lr times its gradient, so the checker compares
    each update with autograd's gradient of mean(-log sigmoid(r_w - r_l)) over 3 steps (relative 1e-5), the
    returned loss with that loss before the update, checks that adding one constant to every reward (the head's
    bias) changes nothing, and then trains a head HEAD_STEPS Adam steps with ``fn``: the loss must fall and the
    held-out accuracy clear chance by 3 standard errors.
    """
    name = "lab2.bt_train_step"
    feats = _features()
    hidden = feats["train_w"].shape[1]
    f_w, f_l = feats["train_w"][:64], feats["train_l"][:64]

    def updates(bias_shift: float = 0.0):
        head = _linear_head(hidden)
        with torch.no_grad():
            head[0].bias += bias_shift
        optimizer = torch.optim.SGD(head.parameters(), lr=SGD_LR)
        rows = []
        for _ in range(3):
            before, want_grad = _param_vector(head), _grad_vector(head, f_w, f_l)
            want_loss = _reference_loss(head, f_w, f_l).item()
            out, fail = run_student(name, fn, head, f_w, f_l, optimizer)
            if fail is not None:
                return None, fail
            loss = out.item() if torch.is_tensor(out) and out.numel() == 1 else out
            try:
                loss = float(loss)
            except (TypeError, ValueError):
                return None, Verdict(name, False, f"it returned a {type(out).__name__}, not the loss",
                                     "return the loss of the batch as a number")
            rows.append((loss, want_loss, (before - _param_vector(head)) / SGD_LR, want_grad))
        return rows, None

    rows, fail = updates()
    if fail is not None:
        return report(fail, verbose)
    close = lambda a, b: bool(torch.allclose(a, b, rtol=1e-5, atol=1e-7))
    for i, (loss, want_loss, update, grad) in enumerate(rows):
        if not close(update, grad):
            if float(update.abs().max()) == 0:
                return report(Verdict(name, False, "the parameters did not change",
                                      "after the loss, which two calls compute the gradient and apply it?"), verbose)
            if close(update, -grad):
                return report(Verdict(name, False, "the update climbs the loss: the parameters move along +gradient",
                                      "is the loss you differentiate the one to minimize, with its sign?"), verbose)
            if close(update, grad * len(f_w)):
                return report(Verdict(name, False, "the update is batch-size times too large: the loss is summed "
                                      "over pairs", "the loss of a batch is the mean over its pairs"), verbose)
            if i > 0 and close(update, grad + rows[i - 1][3]):
                return report(Verdict(name, False, "the gradients of earlier steps are added to each new one",
                                      "backward() adds to .grad; what must happen to the old gradients first?"),
                              verbose)
            shifted, fail = updates(bias_shift=5.0)
            if fail is None and not close(shifted[0][2][:-1], rows[0][2][:-1]):
                return report(Verdict(name, False, "adding the same constant to both rewards changes the update: "
                                      "the loss does not depend on the rewards through their difference only",
                                      "Bradley-Terry models P(y_w preferred) from r_w and r_l: which combination "
                                      "of the two can it depend on, if rewards have no natural zero?"), verbose)
            return report(Verdict(name, False, f"at step {i + 1} the update is not -lr times the gradient of the "
                                  "Bradley-Terry loss", "differentiate the mean negative log-likelihood that the "
                                  "chosen response is preferred, and nothing else"), verbose)
        if abs(loss - want_loss) > 1e-5 * max(1.0, abs(want_loss)):
            return report(Verdict(name, False, f"the update is right but the returned loss {loss:.5f} is not the "
                                  f"batch's loss before the update ({want_loss:.5f})",
                                  "return the loss you called backward() on"), verbose)
    head = _linear_head(hidden, seed=1)
    losses, fail = _train(name, fn, head, feats)
    if fail is not None:
        return report(fail, verbose)
    acc, margin = _held_out(head, feats)
    if not (losses[-1] < losses[0] - 0.05 and acc > 0.5 + margin):
        return report(Verdict(name, False, f"trained {HEAD_STEPS} Adam steps, loss {losses[0]:.3f} -> "
                              f"{losses[-1]:.3f}, held-out accuracy {acc:.1%}", "the step must work with any "
                              "optimizer it is given: use the one passed in"), verbose)
    return report(Verdict(name, True, f"every update is -lr x autograd of -log sigmoid(r_w - r_l); trained, the loss "
                          f"falls {losses[0]:.3f} -> {losses[-1]:.3f} and {acc:.1%} of held-out pairs rank right"),
                  verbose)

