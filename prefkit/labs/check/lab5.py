"""Lab 5, noise robustness: checkers for conservative DPO (cDPO), robust DPO (rDPO), a regression metric, and an
rDPO training step on the shipped policy and flipped text labels."""
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
                          "work out one pair with h = 0 and one with a large h by hand, from the formula in the "
                          "docstring, and compare"), verbose)


def cdpo_loss(fn, beta: float = 0.1, eps: float = 0.2, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_logratios, rejected_logratios, beta, eps) -> (B,)``: conservative DPO."""
    def mistakes(h, beta, eps):
        dpo = -F.logsigmoid(beta * h)
        return [
            (dpo, "eps is ignored: this is plain DPO", "with probability eps the label is wrong"),
            (-eps * F.logsigmoid(beta * h) - (1 - eps) * F.logsigmoid(-beta * h),
             "the weights of the two terms are swapped",
             "which term belongs to the observed label, and how likely is that label to be right?"),
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


def regression_metric(fn, beta: float = 0.5, verbose: bool = True) -> Verdict:
    """Check ``fn(bandit, probs, beta) -> float``, larger = worse: a regression metric for noisy-label training.

    Clean labels would give pi*(beta) = pi_ref exp(r*/beta) / Z, so a good metric is smallest there and grows as
    a policy moves away from it: back towards pi_ref (what flips do to DPO), towards a bad answer, or past the KL
    budget to the greedy answer. Checked on a small exact bandit that is not the lab's.
    """
    import numpy as np

    from ...worlds.bandit import Bandit

    name = "lab5.regression_metric"
    bandit = Bandit.random(k=5, seed=11)
    target, ref = bandit.optimal_policy(beta), bandit.ref_probs
    greedy = np.eye(bandit.n_responses)[int(np.argmax(bandit.rewards))]
    worst = np.eye(bandit.n_responses)[int(np.argmin(bandit.rewards))]

    def score(p):
        value, fail = run_student(name, fn, bandit, np.asarray(p, dtype=float), beta,
                                  allowed=("prefkit.worlds.bandit.Bandit.",))
        if fail is not None:
            return None, fail
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None, Verdict(name, False, f"it returned a {type(value).__name__}, not a number",
                                 "return one float per policy (larger = worse)")
        if np.isnan(value):
            return None, Verdict(name, False, "it returned NaN", "watch out for 0 * log 0 and divisions by zero")
        return value, None

    at_target, fail = score(target)
    if fail is not None:
        return report(fail, verbose)
    checks = {}
    for label, end in (("ref", ref), ("greedy", greedy), ("worst", worst)):
        values = []
        for t in (0.25, 0.5, 1.0):
            v, fail = score((1 - t) * target + t * end)
            if fail is not None:
                return report(fail, verbose)
            values.append(v)
        checks[label] = values
    tol = 1e-9
    if checks["ref"][-1] <= at_target + tol:
        return report(Verdict(name, False, "it scores pi_ref as good as or better than pi*(beta): it measures how far "
                              "a policy moved from the reference, so a policy that never learned looks best",
                              "flips pull DPO back towards pi_ref; measure the distance to the clean-label target "
                              "pi*(beta) instead"), verbose)
    if checks["greedy"][-1] <= at_target + tol:
        return report(Verdict(name, False, "it scores the greedy policy as good as or better than pi*(beta): it "
                              "ignores the KL budget the target was chosen under",
                              "expected gold reward alone keeps improving past the budget; compare with pi*(beta)"),
                      verbose)
    for label, values in checks.items():
        seq = [at_target] + values
        if any(b <= a + tol for a, b in zip(seq, seq[1:])):
            return report(Verdict(name, False, f"it does not grow steadily as a policy moves from pi*(beta) towards "
                                  f"{'pi_ref' if label == 'ref' else 'the ' + label + ' answer'}",
                                  "a regression metric must be smallest at the target and grow with distance from "
                                  "it"), verbose)
    return report(Verdict(name, True, "smallest at pi*(beta) and growing in every direction away from it"), verbose)


# ------------------------------------------------------------------ rDPO in the text world: a training step (5.4)
LR, EPS = 1e-3, 0.4
LOGPS = ("prefkit.train.dpo.policy_logps",)  # the log-probs of both responses are given; the loss and step are not


def rdpo_train_step(fn, beta: float = 0.1, eps: float = EPS, verbose: bool = True) -> Verdict:
    """Check ``fn(policy, ref, batch, optimizer, beta, eps) -> loss``: one rDPO training step on a batch of pairs.

    The checker runs STEPS steps of ``fn`` on a copy of the shipped policy and the first pairs of the shipped
    ``noisy40`` labels (AdamW, lr LR, eps 0.4), and compares every loss with prefkit's own step
    (``prefkit.train.dpo.dpo_step`` with ``kind="rdpo"``) run the same way: within 1e-4. ``fn`` may call
    ``prefkit.train.dpo.policy_logps`` for the log-probs; any other prefkit function is delegation.
    """
    import copy

    from . import _dpo_runs
    from .lab4 import STEPS, _diverging_losses, _run_steps

    name = "lab5.rdpo_train_step"
    s = _dpo_runs.setup("noisy40")
    model = copy.deepcopy(s.policy).train()
    ref = copy.deepcopy(s.ref).requires_grad_(True)  # a reference scored with gradients on shows up in its .grad
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    got, fail = _run_steps(name, fn, model, ref, s.batch, optimizer, beta, eps, allowed=LOGPS)
    if fail is not None:
        return report(fail, verbose)
    want = _dpo_runs.step_losses(s.policy, s.ref, s.batch, STEPS, LR, beta, kind="rdpo", eps=eps)
    if all(abs(a - b) <= 1e-4 for a, b in zip(got, want)):
        return report(Verdict(name, True, f"{STEPS} steps on flipped labels match prefkit's rDPO step within 1e-4"),
                      verbose)

    def simulated():
        known = [({"kind": "dpo"}, "the losses are plain DPO's: eps is not used",
                  "which loss of section 1 knows the flip rate, and is it the one you minimize?"),
                 ({"kind": "cdpo", "eps": eps}, "the losses are cDPO's, not rDPO's",
                  "the two losses differ in one sign and a normalization: which ones?"),
                 ({"kind": "rdpo", "eps": eps, "zero_grad": False}, "the gradients of earlier steps are added to "
                  "each new one", "backward() adds to .grad; what must happen to the old gradients first?")]
        for options, message, hint in known:
            yield _dpo_runs.step_losses(s.policy, s.ref, s.batch, STEPS, LR, beta, **options), message, hint
    return report(_diverging_losses(name, got, want, simulated()), verbose)
