"""Preference losses as pure functions on tensors: Bradley-Terry, the DPO family, SimPO, ORPO, KL estimators.

Notation (docs/design.md, Notation): logps = log pi(y|x) SUMMED over the response tokens; logratio = log pi_theta(y|x) -
log pi_ref(y|x); h = logratio(y_w) - logratio(y_l); beta is the KL strength (larger beta = closer to pi_ref).
Every function returns one value per example, shape (B,); the caller takes the mean. Nothing here logs,
calls .item() or moves tensors between devices, so the same code runs in a notebook, a test and a trainer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

PREFERENCE_KINDS = ("dpo", "cdpo", "rdpo", "ipo", "hinge")
KL_KINDS = ("k1", "k2", "k3")


def bradley_terry_loss(chosen_rewards: Tensor, rejected_rewards: Tensor, margin: float | Tensor = 0.0) -> Tensor:
    """Reward-model loss: negative log-likelihood of the preference under Bradley-Terry.

    loss = -log sigmoid(r(x, y_w) - r(x, y_l) - margin)
    Bradley & Terry 1952; as a reward-model loss Ouyang et al. 2022 (InstructGPT), eq. 1. The optional margin
    (a float or a (B,) tensor, e.g. larger for "significantly better" labels) is Touvron et al. 2023
    (Llama 2), eq. 2: the model must separate the pair by at least `margin` before the loss gets small.
    """
    return -F.logsigmoid(chosen_rewards - rejected_rewards - margin)  # (B,)


def preference_loss(chosen_logratios: Tensor, rejected_logratios: Tensor, beta: float, kind: str = "dpo",
                    eps: float = 0.0) -> Tensor:
    """Per-pair loss of the DPO family.

    h = logratio(y_w) - logratio(y_l), logratio = log pi_theta(y|x) - log pi_ref(y|x) (summed over tokens),
    l(z) = -log sigmoid(z).
    dpo:   l(beta h)                                          Rafailov et al. 2023, eq. 7
    cdpo:  (1 - eps) l(beta h) + eps l(-beta h)               conservative DPO (Mitchell 2023, "A note on DPO
                                                              with noisy preferences"): cross-entropy against
                                                              labels smoothed by eps in [0, 1]
    rdpo:  [(1 - eps) l(beta h) - eps l(-beta h)] / (1 - 2 eps)
                                                              robust DPO, Chowdhury et al. 2024 ("Provably
                                                              robust DPO"): unbiased for the clean loss under
                                                              a flip rate eps in [0, 0.5)
    ipo:   (h - 1 / (2 beta))^2                               Azar et al. 2023, eq. 17, beta playing tau
    hinge: max(0, 1 - beta h)                                 SLiC-HF rank-calibration loss, Zhao et al. 2023
                                                              (margin delta = 1 / beta, scaled by beta)

    At h = 0 (policy equals reference) dpo, cdpo and rdpo are log 2, ipo is 1 / (4 beta^2), hinge is 1.
    eps is used by cdpo and rdpo only; passing it to another kind is an error rather than silently ignored.
    Note: TRL's "ipo" divides each logratio by its number of completion tokens first; this one does not.
    """
    if kind not in PREFERENCE_KINDS:
        raise ValueError(f"unknown preference loss kind {kind!r}; choose one of {PREFERENCE_KINDS}")
    if isinstance(beta, (int, float)) and not beta > 0:
        raise ValueError(f"beta must be > 0 (larger beta keeps the policy closer to pi_ref), got {beta}")
    if kind == "rdpo" and not 0.0 <= eps < 0.5:
        raise ValueError(f"rdpo needs a flip rate eps in [0, 0.5), got {eps}")
    if kind == "cdpo" and not 0.0 <= eps <= 1.0:
        raise ValueError(f"cdpo needs a label-noise rate eps in [0, 1], got {eps}")
    if kind not in ("cdpo", "rdpo") and eps != 0.0:
        raise ValueError(f"eps={eps} has no effect on kind={kind!r}; use kind='cdpo' or 'rdpo' for noisy labels")

    h = chosen_logratios - rejected_logratios  # (B,)
    if kind == "dpo":
        return -F.logsigmoid(beta * h)  # (B,)
    if kind == "cdpo":
        return -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)  # (B,)
    if kind == "rdpo":
        return (-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)  # (B,)
    if kind == "ipo":
        return (h - 1 / (2 * beta)) ** 2  # (B,)
    return torch.relu(1 - beta * h)  # (B,) hinge


def preference_loss_minimum(beta: float, kind: str, eps: float = 0.0) -> float:
    """argmin over the margin h of ``preference_loss`` for one pair, in closed form (inf: no finite minimum).

    cdpo:  h* = log((1 - eps) / eps) / beta, where sigma(beta h*) = 1 - eps: the pair is as certain as labels
           smoothed by eps deserve, and DPO's weight sigma(-beta h*) there is eps. eps = 0 is DPO: inf.
    ipo:   h* = 1 / (2 beta), the target its squared loss regresses the margin to.
    dpo, rdpo and hinge have no finite minimiser (dpo and rdpo keep falling; hinge is 0 from h = 1 / beta on,
    so its smallest minimiser 1 / beta is returned). The margin explorer draws these points.
    """
    if kind == "cdpo":
        return math.inf if eps <= 0 else math.log((1 - eps) / eps) / beta
    if kind == "ipo":
        return 1.0 / (2.0 * beta)
    if kind == "hinge":
        return 1.0 / beta
    if kind in ("dpo", "rdpo"):
        return math.inf
    raise ValueError(f"unknown preference loss kind {kind!r}; choose one of {PREFERENCE_KINDS}")


def simpo_loss(chosen_logps_avg: Tensor, rejected_logps_avg: Tensor, beta: float = 2.0, gamma: float = 0.5) -> Tensor:
    """SimPO: a reference-free, length-normalized margin loss.

    loss = -log sigmoid(beta (avg_w - avg_l) - gamma),  avg = (1/|y|) log pi_theta(y|x)
    Meng et al. 2024, eq. 6. The inputs are MEAN token log-probs (not sums, unlike the DPO family), and gamma
    is the target reward margin itself (TRL's CPOTrainer takes it as simpo_gamma, the same quantity).
    """
    return -F.logsigmoid(beta * (chosen_logps_avg - rejected_logps_avg) - gamma)  # (B,)


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0 without cancellation (Maechler 2012: switch formulas at x = -log 2)."""
    t = -math.log(2.0)
    # Each branch sees only the inputs it is accurate on, so the unused branch never makes inf/nan gradients.
    near_zero = torch.log(-torch.expm1(x.clamp(min=t)))
    far = torch.log1p(-torch.exp(x.clamp(max=t)))
    return torch.where(x > t, near_zero, far)


def log_odds(logps_avg: Tensor) -> Tensor:
    """log odds(y|x) = log P - log(1 - P) with P = exp(mean token log-prob), Hong et al. 2024, eq. 4."""
    return logps_avg - _log1mexp(logps_avg)


def orpo_odds_ratio_loss(chosen_logps_avg: Tensor, rejected_logps_avg: Tensor) -> Tensor:
    """ORPO's odds-ratio term: L_OR = -log sigmoid(log odds(y_w|x) - log odds(y_l|x)).

    Hong et al. 2024, eq. 7, with odds(y|x) = P / (1 - P) and P = exp(mean token log-prob) (eq. 4).
    Inputs are mean token log-probs, strictly negative.
    """
    return -F.logsigmoid(log_odds(chosen_logps_avg) - log_odds(rejected_logps_avg))  # (B,)


def orpo_loss(chosen_logps_avg: Tensor, rejected_logps_avg: Tensor, chosen_nll: Tensor | None = None,
              lam: float = 0.1) -> Tensor:
    """ORPO: supervised fine-tuning on y_w plus a weighted odds-ratio penalty, no reference model.

    loss = L_SFT + lam * L_OR, Hong et al. 2024, eq. 6. L_SFT is the mean token negative log-likelihood of
    y_w; by default it is -chosen_logps_avg, or pass your own (B,) tensor as chosen_nll.
    lam is the paper's lambda (TRL's ORPOConfig calls it beta).
    """
    if chosen_nll is None:
        chosen_nll = -chosen_logps_avg  # (B,)
    return chosen_nll + lam * orpo_odds_ratio_loss(chosen_logps_avg, rejected_logps_avg)  # (B,)


def implicit_reward(logratios: Tensor, beta: float) -> Tensor:
    """DPO's implicit reward r_hat(x, y) = beta log pi_theta(y|x) / pi_ref(y|x), Rafailov et al. 2023, sec. 5.

    It equals the reward whose KL-regularized optimum is pi_theta, up to a per-prompt constant beta log Z(x).
    TRL logs its mean as rewards/chosen and rewards/rejected.
    """
    return beta * logratios  # (B,)


def dpo_gradient_weight(chosen_logratios: Tensor, rejected_logratios: Tensor, beta: float) -> Tensor:
    """How hard DPO pushes on a pair: sigmoid(r_hat(y_l) - r_hat(y_w)) = sigmoid(-beta h).

    Rafailov et al. 2023, sec. 4 ("What does the DPO update do?"):
    grad L_DPO = -beta E[sigmoid(-beta h) (grad log pi(y_w|x) - grad log pi(y_l|x))],
    i.e. d/dh of -log sigmoid(beta h) is -beta times this weight. Pairs the implicit reward already orders
    correctly get weight near 0; wrongly ordered pairs get weight near 1.
    """
    h = chosen_logratios - rejected_logratios  # (B,)
    return torch.sigmoid(-beta * h)  # (B,)


def kl_estimate(policy_logps: Tensor, ref_logps: Tensor, kind: str = "k3") -> Tensor:
    """Per-sample estimate of KL(pi || pi_ref) from samples y ~ pi (Schulman 2020, "Approximating KL divergence").

    With log r = log pi_ref(y) - log pi(y):
    k1 = -log r                 unbiased, high variance, negative on some samples
    k2 = (log r)^2 / 2          biased (its mean is a second-order approximation of KL), low variance
    k3 = (r - 1) - log r        unbiased and never negative (exp(z) - 1 >= z)
    Average the returned tensor over samples to get the estimate. k3 uses expm1 so that it is exact for tiny
    log r and cannot round below zero.
    """
    if kind not in KL_KINDS:
        raise ValueError(f"unknown KL estimator {kind!r}; choose one of {KL_KINDS}")
    logr = ref_logps - policy_logps  # (B,)
    if kind == "k1":
        return -logr
    if kind == "k2":
        return logr**2 / 2
    return (torch.expm1(logr) - logr).clamp_min(0.0)  # clamp only guards round-off; exact value is >= 0


__all__ = [
    "PREFERENCE_KINDS",
    "KL_KINDS",
    "bradley_terry_loss",
    "preference_loss",
    "preference_loss_minimum",
    "simpo_loss",
    "log_odds",
    "orpo_odds_ratio_loss",
    "orpo_loss",
    "implicit_reward",
    "dpo_gradient_weight",
    "kl_estimate",
]
