"""prefkit.losses: parity with TRL 1.16's own loss code, closed forms, textbook values, gradients, KL estimators.

TRL 1.16 has no public DPO loss function: the loss lives in the private `DPOTrainer._compute_loss(model, inputs,
return_outputs)`. The parity tests call that method, unmodified, on a trainer built with `object.__new__` and the
attributes DPOTrainer.__init__ sets from its config. Its `model` is a stub that returns TRL's own
FusedCausalLMOutput with given per-token log-probs, zero where TRL's labels are -100 (the fused head's
contract), so TRL does its own masking, summing over tokens, chunking into chosen/rejected and loss math.
trl is pinned (==1.16.0 in pyproject's dev extra) and the first test checks the private signature.
"""
import dataclasses
import inspect
import math
import os
import warnings
from collections import defaultdict
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import torch.nn.functional as F
import trl  # pinned dev dependency: a missing TRL should fail loudly, not skip the parity tests
from trl import DPOConfig, DPOTrainer
from trl.trainer.utils import FusedCausalLMOutput

from prefkit.losses import (
    PREFERENCE_KINDS,
    bradley_terry_loss,
    dpo_gradient_weight,
    implicit_reward,
    kl_estimate,
    orpo_loss,
    orpo_odds_ratio_loss,
    preference_loss,
    simpo_loss,
)

TOL = dict(rtol=1e-6, atol=1e-6)
CPU = SimpleNamespace(device=torch.device("cpu"), gather=lambda v: v, gather_for_metrics=lambda v: v)


# ----------------------------------------------------------------------------- TRL harness
class StubLM(torch.nn.Module):
    """A causal LM whose log-prob of token t given tokens < t is token_logps[:, t], whatever the input.

    Called like TRL calls a model with a fused LM head: model(..., labels=labels, fused_lm_head=True) returns
    per-token log-probs of the shifted labels, (2B, T - 1), zero where the label is -100.
    """

    def __init__(self, token_logps):
        super().__init__()
        self.token_logps = token_logps  # (2B, T)
        self.is_gradient_checkpointing = False

    def forward(self, input_ids, attention_mask=None, labels=None, fused_lm_head=False, **kwargs):
        assert fused_lm_head, "TRL 1.16 always asks for the fused head"
        mask = labels[:, 1:] != -100  # (2B, T - 1)
        log_probs = self.token_logps[:, 1:].masked_fill(~mask, 0.0)
        zeros = torch.zeros_like(log_probs)
        return FusedCausalLMOutput(loss=-log_probs.sum() / mask.sum(), log_probs=log_probs, entropy=zeros,
                                   mean_logits=zeros, is_top1=torch.zeros_like(mask), label_mask=mask)


def make_batch(n_pairs, seed, completion_len=None):
    """Right-padded [chosen; rejected] batch of random sequences and per-token log-probs (float64)."""
    g = torch.Generator().manual_seed(seed)
    rows = 2 * n_pairs
    prompt_len = torch.randint(1, 4, (rows,), generator=g)  # >= 1: the first token is never scored
    comp_len = (torch.randint(1, 8, (rows,), generator=g) if completion_len is None
                else torch.full((rows,), completion_len))
    T = int((prompt_len + comp_len).max())
    pos = torch.arange(T)[None, :]  # (1, T)
    attention_mask = (pos < (prompt_len + comp_len)[:, None]).long()  # (2B, T)
    completion_mask = ((pos >= prompt_len[:, None]) & (attention_mask == 1)).long()  # (2B, T)
    input_ids = torch.randint(3, 100, (rows, T), generator=g) * attention_mask
    policy_tok = -3 * torch.rand(rows, T, generator=g, dtype=torch.float64)  # (2B, T) token log-probs
    ref_tok = -3 * torch.rand(rows, T, generator=g, dtype=torch.float64)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, completion_mask=completion_mask)
    return inputs, policy_tok, ref_tok


def seq_logps(token_logps, completion_mask):
    """The per-sequence log-prob of docs/design.md, Notation: the sum over completion tokens."""
    return (token_logps * completion_mask).sum(dim=1)  # (2B,)


def trl_trainer(loss_type, beta, label_smoothing, policy, ref_model):
    """A DPOTrainer carrying exactly what __init__ sets for _compute_loss, with DPOConfig's own defaults.

    DPOConfig is not instantiated: doing so initializes accelerate's global PartialState (use_cpu), which would
    leak into later tests in the same process.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(DPOConfig)}
    t = object.__new__(DPOTrainer)
    t.model, t.ref_model, t.accelerator = policy, ref_model, CPU
    t.args = SimpleNamespace(gradient_checkpointing_kwargs=defaults["gradient_checkpointing_kwargs"])
    t.beta, t.label_smoothing = beta, label_smoothing
    t.precompute_ref_logps = ref_model is None
    t.loss_types = [loss_type]
    t.loss_weights = defaults["loss_weights"] or [1.0]
    t.ld_alpha, t.f_divergence_type = defaults["ld_alpha"], defaults["f_divergence_type"]
    t.use_weighting, t.aux_loss_enabled = defaults["use_weighting"], False
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    t._total_train_tokens, t._tp_size = 0, 1
    return t


def trl_loss(loss_type, beta, inputs, policy_tok, ref_tok, label_smoothing=0.0, precomputed=True, rows=None):
    """TRL's mean loss over the pairs in `rows` (default all); also returns the trainer for its metrics."""
    B = inputs["input_ids"].shape[0] // 2
    rows = list(range(B)) if rows is None else rows
    idx = torch.tensor(rows + [B + i for i in rows])  # keep the [chosen; rejected] layout
    sub = {k: v[idx] for k, v in inputs.items()}
    ref_model = None
    if precomputed:
        ref_logps = seq_logps(ref_tok[idx], sub["completion_mask"])
        sub["ref_chosen_logps"], sub["ref_rejected_logps"] = ref_logps.chunk(2)
    else:
        ref_model = StubLM(ref_tok[idx])
    policy = StubLM(policy_tok[idx])
    trainer = trl_trainer(loss_type, beta, label_smoothing, policy, ref_model)
    return trainer._compute_loss(policy, sub, return_outputs=False), trainer


def our_logratios(inputs, policy_tok, ref_tok):
    logratios = seq_logps(policy_tok, inputs["completion_mask"]) - seq_logps(ref_tok, inputs["completion_mask"])
    return logratios.chunk(2)  # (B,), (B,)


# ----------------------------------------------------------------------------- TRL parity
def test_trl_is_the_pinned_version_with_the_private_signature_we_call():
    assert trl.__version__ == "1.16.0", "the parity harness targets TRL 1.16.0's private DPOTrainer._compute_loss"
    assert list(inspect.signature(DPOTrainer._compute_loss).parameters) == ["self", "model", "inputs",
                                                                              "return_outputs"]


@pytest.mark.parametrize("precomputed", [True, False], ids=["precomputed_ref", "ref_model"])
@pytest.mark.parametrize("beta", [0.1, 2.0])
@pytest.mark.parametrize("trl_type,kind,eps", [("sigmoid", "dpo", 0.0), ("robust", "rdpo", 0.1),
                                               ("robust", "rdpo", 0.35), ("hinge", "hinge", 0.0)])
def test_dpo_family_matches_trl_per_pair(trl_type, kind, eps, beta, precomputed):
    inputs, pol, ref = make_batch(6, seed=1)
    ours = preference_loss(*our_logratios(inputs, pol, ref), beta, kind=kind, eps=eps)  # (B,)
    # TRL returns the batch mean, so ask for one pair at a time to compare per-pair values.
    theirs = torch.stack([trl_loss(trl_type, beta, inputs, pol, ref, eps, precomputed, rows=[i])[0]
                          for i in range(6)])
    torch.testing.assert_close(ours, theirs, **TOL)
    full, _ = trl_loss(trl_type, beta, inputs, pol, ref, eps, precomputed)
    torch.testing.assert_close(ours.mean(), full, **TOL)
    if kind == "hinge" and beta == 2.0:  # both the flat and the sloped part of the hinge are exercised
        assert (ours == 0).any() and (ours > 0).any()


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_ipo_matches_trl_after_length_normalization(beta):
    # Convention difference: prefkit's ipo is Azar et al. eq. 17 on h built from token-SUMMED log-ratios.
    # TRL's "ipo" first divides each sequence's log-ratio by its number of completion tokens (a per-token
    # average), then applies the same (h - 1/(2 beta))^2. Feeding prefkit the length-averaged log-ratios
    # reproduces TRL exactly; with one-token completions the two conventions coincide without any division.
    inputs, pol, ref = make_batch(6, seed=2)
    chosen_lr, rejected_lr = our_logratios(inputs, pol, ref)
    len_w, len_l = inputs["completion_mask"].sum(dim=1).chunk(2)
    assert (len_w != len_l).any(), "the batch must have unequal lengths for this test to mean anything"
    ours = preference_loss(chosen_lr / len_w, rejected_lr / len_l, beta, kind="ipo")
    theirs = torch.stack([trl_loss("ipo", beta, inputs, pol, ref, rows=[i])[0] for i in range(6)])
    torch.testing.assert_close(ours, theirs, **TOL)
    summed = preference_loss(chosen_lr, rejected_lr, beta, kind="ipo")
    assert not torch.allclose(summed, theirs, **TOL)  # without normalization they really differ

    inputs1, pol1, ref1 = make_batch(6, seed=3, completion_len=1)
    ours1 = preference_loss(*our_logratios(inputs1, pol1, ref1), beta, kind="ipo")
    torch.testing.assert_close(ours1.mean(), trl_loss("ipo", beta, inputs1, pol1, ref1)[0], **TOL)


def test_trl_label_smoothing_does_nothing_to_sigmoid_so_cdpo_is_not_in_trl():
    inputs, pol, ref = make_batch(6, seed=4)
    plain, _ = trl_loss("sigmoid", 0.3, inputs, pol, ref, label_smoothing=0.0)
    smoothed, _ = trl_loss("sigmoid", 0.3, inputs, pol, ref, label_smoothing=0.2)
    assert torch.equal(plain, smoothed)
    cdpo = preference_loss(*our_logratios(inputs, pol, ref), 0.3, kind="cdpo", eps=0.2).mean()
    assert abs(cdpo - smoothed) > 1e-3


def test_gradients_and_logged_rewards_match_trl():
    beta = 0.25
    inputs, pol, ref = make_batch(6, seed=5)
    pol_trl = pol.clone().requires_grad_(True)
    loss_trl, trainer = trl_loss("sigmoid", beta, inputs, pol_trl, ref)
    loss_trl.backward()
    pol_ours = pol.clone().requires_grad_(True)
    chosen_lr, rejected_lr = our_logratios(inputs, pol_ours, ref)
    preference_loss(chosen_lr, rejected_lr, beta).mean().backward()
    torch.testing.assert_close(pol_ours.grad, pol_trl.grad, **TOL)  # d loss / d token log-probs

    metrics = trainer._metrics["train"]
    chosen_lr, rejected_lr = (v.detach() for v in (chosen_lr, rejected_lr))
    assert metrics["rewards/chosen"][-1] == pytest.approx(implicit_reward(chosen_lr, beta).mean().item(), abs=1e-9)
    assert metrics["rewards/rejected"][-1] == pytest.approx(implicit_reward(rejected_lr, beta).mean().item(),
                                                            abs=1e-9)
    margin = implicit_reward(chosen_lr, beta) - implicit_reward(rejected_lr, beta)
    assert metrics["rewards/margins"][-1] == pytest.approx(margin.mean().item(), abs=1e-9)


def test_simpo_and_orpo_match_trl_experimental_trainers():
    # Not DPOTrainer: TRL keeps these in trl.experimental (CPOTrainer with loss_type="simpo", ORPOTrainer).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.cpo import CPOTrainer
        from trl.experimental.orpo import ORPOTrainer
    g = torch.Generator().manual_seed(6)
    avg_w = -2 * torch.rand(32, generator=g, dtype=torch.float64) - 1e-3  # mean token log-probs, < 0
    avg_l = -2 * torch.rand(32, generator=g, dtype=torch.float64) - 1e-3

    cpo = object.__new__(CPOTrainer)
    cpo.accelerator, cpo.alpha, cpo.loss_type, cpo.label_smoothing = CPU, 0.0, "simpo", 0.0
    cpo.beta, cpo.simpo_gamma = 2.0, 0.5
    torch.testing.assert_close(simpo_loss(avg_w, avg_l, beta=2.0, gamma=0.5), cpo.cpo_loss(avg_w, avg_l)[0], **TOL)

    orpo = object.__new__(ORPOTrainer)
    orpo.accelerator, orpo.beta = CPU, 0.1
    avg_w, avg_l = avg_w.float(), avg_l.float()  # TRL's ORPO casts to float32, so compare in float32
    trl_term = orpo.odds_ratio_loss(avg_w, avg_l)[0]  # TRL returns beta * log sigmoid(log odds ratio)
    torch.testing.assert_close(orpo_odds_ratio_loss(avg_w, avg_l), -trl_term / orpo.beta, **TOL)


# ----------------------------------------------------------------------------- closed forms
def test_cdpo_is_cross_entropy_against_smoothed_labels_and_rdpo_is_unbiased():
    h = torch.linspace(-6, 6, 41, dtype=torch.float64)
    zero = torch.zeros_like(h)
    for beta in (0.1, 1.0):
        for eps in (0.0, 0.1, 0.4):
            cdpo = preference_loss(h, zero, beta, kind="cdpo", eps=eps)
            bce = F.binary_cross_entropy_with_logits(beta * h, torch.full_like(h, 1 - eps), reduction="none")
            torch.testing.assert_close(cdpo, bce)
            # rDPO's defining property: averaged over a flip with probability eps, it is the clean DPO loss.
            rdpo = lambda z: preference_loss(z, zero, beta, kind="rdpo", eps=eps)  # noqa: E731
            torch.testing.assert_close((1 - eps) * rdpo(h) + eps * rdpo(-h), preference_loss(h, zero, beta))
    torch.testing.assert_close(preference_loss(h, zero, 0.5, "cdpo", 0.0), preference_loss(h, zero, 0.5))


def test_simpo_and_orpo_closed_forms():
    g = torch.Generator().manual_seed(7)
    avg_w = -3 * torch.rand(64, generator=g, dtype=torch.float64) - 1e-2
    avg_l = -3 * torch.rand(64, generator=g, dtype=torch.float64) - 1e-2
    expected = torch.log1p(torch.exp(-(2.5 * (avg_w - avg_l) - 0.3)))  # -log sigmoid(z) = log(1 + e^-z)
    torch.testing.assert_close(simpo_loss(avg_w, avg_l, beta=2.5, gamma=0.3), expected)

    odds = lambda a: a.exp() / (1 - a.exp())  # noqa: E731  odds = P / (1 - P), P = exp(mean log-prob)
    expected_or = torch.log1p(odds(avg_l) / odds(avg_w))  # -log(o_w / (o_w + o_l))
    torch.testing.assert_close(orpo_odds_ratio_loss(avg_w, avg_l), expected_or)
    torch.testing.assert_close(orpo_loss(avg_w, avg_l, lam=0.2), -avg_w + 0.2 * expected_or)
    nll = torch.rand(64, generator=g, dtype=torch.float64)
    torch.testing.assert_close(orpo_loss(avg_w, avg_l, chosen_nll=nll, lam=0.2), nll + 0.2 * expected_or)


def test_orpo_log_odds_are_stable_near_probability_one_and_zero():
    # float32 mean log-probs at -1e-7 (P nearly 1) and -80 (P tiny): naive log(1 - exp(x)) gives -inf or 0.
    x_w = torch.tensor([-1e-7, -1e-4, -0.5, -0.7, -3.0, -80.0], requires_grad=True)
    x_l = torch.full((6,), -1.0)
    loss = orpo_odds_ratio_loss(x_w, x_l)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(x_w.grad).all()
    x64 = x_w.detach().double()
    log_odds_w = x64 - torch.log(-torch.expm1(x64))  # exact in float64 across this range
    log_odds_l = torch.tensor(-1.0, dtype=torch.float64) - math.log(-math.expm1(-1.0))
    expected = -F.logsigmoid(log_odds_w - log_odds_l)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)


def test_bradley_terry_loss_and_margin():
    r_w, r_l = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    torch.testing.assert_close(bradley_terry_loss(r_w, r_l), -torch.log(torch.sigmoid(r_w - r_l)))
    torch.testing.assert_close(bradley_terry_loss(r_w, r_l)[1], torch.tensor(math.log(2)))
    margin = torch.tensor([1.0, 0.5, 0.0])
    torch.testing.assert_close(bradley_terry_loss(r_w, r_l, margin), -F.logsigmoid(r_w - r_l - margin))
    assert bradley_terry_loss(r_w, r_l, 1.0)[0] > bradley_terry_loss(r_w, r_l)[0]  # a margin asks for more


# ----------------------------------------------------------------------------- textbook values and gradients
@pytest.mark.parametrize("beta", [0.05, 0.5, 3.0])
def test_values_at_h_zero(beta):
    zero = torch.zeros(4, dtype=torch.float64)
    expected = {"dpo": math.log(2), "cdpo": math.log(2), "rdpo": math.log(2), "ipo": 1 / (4 * beta**2), "hinge": 1.0}
    assert set(expected) == set(PREFERENCE_KINDS)
    for kind, value in expected.items():
        eps = 0.2 if kind in ("cdpo", "rdpo") else 0.0
        out = preference_loss(zero, zero, beta, kind=kind, eps=eps)
        torch.testing.assert_close(out, torch.full_like(zero, value))
    torch.testing.assert_close(dpo_gradient_weight(zero, zero, beta), torch.full_like(zero, 0.5))
    torch.testing.assert_close(implicit_reward(torch.tensor([2.0]), beta), torch.tensor([2.0 * beta]))


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_dpo_gradient_is_minus_beta_times_the_gradient_weight(beta):
    h = torch.linspace(-30, 30, 61, dtype=torch.float64, requires_grad=True)
    rejected = torch.zeros_like(h, requires_grad=True)
    preference_loss(h, rejected, beta).sum().backward()
    weight = dpo_gradient_weight(h.detach(), torch.zeros_like(h), beta)
    torch.testing.assert_close(h.grad, -beta * weight)
    torch.testing.assert_close(rejected.grad, beta * weight)  # pushes y_l down exactly as hard as y_w up
    torch.testing.assert_close(weight, torch.sigmoid(-beta * h.detach()))
    assert weight[0] > 0.9 and weight[-1] < 0.1  # wrongly ordered pairs get pushed, well-ordered ones hardly


# ----------------------------------------------------------------------------- KL estimators
def test_kl_estimators_on_gaussians_with_known_kl():
    # pi = N(0, 1) (we sample from it), pi_ref = N(0.5, 1): KL(pi || pi_ref) = 0.5^2 / 2 = 0.125.
    # log r = log pi_ref(y) - log pi(y) = 0.5 y - 0.125, so E[k2] = E[(log r)^2] / 2 = (0.25 + 0.125^2) / 2.
    g = torch.Generator().manual_seed(0)
    y = torch.randn(200_000, generator=g, dtype=torch.float64)
    policy_logps = -0.5 * y**2 - 0.5 * math.log(2 * math.pi)
    ref_logps = -0.5 * (y - 0.5) ** 2 - 0.5 * math.log(2 * math.pi)
    true_kl, k2_mean = 0.125, (0.25 + 0.125**2) / 2
    est = {k: kl_estimate(policy_logps, ref_logps, kind=k) for k in ("k1", "k2", "k3")}
    se = {k: (v.std() / math.sqrt(len(v))).item() for k, v in est.items()}
    assert abs(est["k1"].mean().item() - true_kl) < 4 * se["k1"]
    assert abs(est["k3"].mean().item() - true_kl) < 4 * se["k3"]
    assert abs(est["k2"].mean().item() - k2_mean) < 4 * se["k2"]  # k2 is biased by +1/128 here ...
    assert abs(est["k2"].mean().item() - true_kl) > 10 * se["k2"]  # ... and the test can see it
    assert (est["k1"] < 0).any() and (est["k3"] >= 0).all()  # k1 goes negative per sample, k3 never
    assert se["k3"] < se["k1"]  # k3's lower variance is the reason to use it
    assert kl_estimate(policy_logps, ref_logps).equal(est["k3"])  # k3 is the default


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_k3_is_never_negative_and_accurate_for_tiny_log_ratios(dtype):
    extreme = torch.tensor([-1e4, -700.0, -50.0, -1.0, -1e-30, 0.0, 1e-30, 1.0, 50.0, 80.0], dtype=dtype)
    k3 = kl_estimate(torch.zeros_like(extreme), extreme, kind="k3")  # policy_logps = 0, so log r = ref_logps
    assert (k3 >= 0).all() and torch.isfinite(k3).all()

    logr = torch.linspace(-1e-6, 1e-6, 1001, dtype=dtype)
    logr = logr[logr != 0]
    k3 = kl_estimate(torch.zeros_like(logr), logr, kind="k3")
    naive = (logr.exp() - 1) - logr  # the textbook expression, evaluated the obvious way
    series = logr**2 / 2 + logr**3 / 6  # exact to far below round-off here
    eps = torch.finfo(dtype).eps
    assert (k3 >= 0).all()
    assert ((k3 - series).abs() <= 2 * eps * logr.abs()).all()  # error at the scale of ulp(log r) ...
    assert (naive < 0).any()  # ... while exp(x) - 1 rounds at the scale of ulp(1) and goes negative
    assert (naive - series).abs().max() > 0.1 * eps


# ----------------------------------------------------------------------------- errors
def test_clear_errors_for_bad_inputs():
    z = torch.zeros(3)
    with pytest.raises(ValueError, match="unknown preference loss kind 'sigmoid'.*dpo"):
        preference_loss(z, z, 0.1, kind="sigmoid")
    with pytest.raises(ValueError, match=r"rdpo needs a flip rate eps in \[0, 0.5\)"):
        preference_loss(z, z, 0.1, kind="rdpo", eps=0.5)
    with pytest.raises(ValueError, match="beta must be > 0"):
        preference_loss(z, z, 0.0)
    with pytest.raises(ValueError, match="eps=0.1 has no effect on kind='dpo'"):
        preference_loss(z, z, 0.1, kind="dpo", eps=0.1)
    with pytest.raises(ValueError, match="unknown KL estimator 'k4'"):
        kl_estimate(z, z, kind="k4")


@pytest.mark.parametrize("kind,beta,eps", [("cdpo", 0.5, 0.1), ("cdpo", 2.0, 0.3), ("ipo", 0.5, 0.0), ("ipo", 4.0, 0.0)])
def test_the_closed_form_minimum_is_where_the_loss_is_smallest(kind, beta, eps):
    """preference_loss_minimum against the loss itself: on a fine grid of margins the drawn loss is smallest at the
    grid point next to h*, and the loss's derivative there is 0 (autograd)."""
    from prefkit.losses import preference_loss_minimum

    h_star = preference_loss_minimum(beta, kind, eps)
    h = torch.linspace(h_star - 3, h_star + 3, 60001, dtype=torch.float64)
    loss = preference_loss(h, torch.zeros_like(h), beta, kind, eps=eps)
    assert abs(float(h[loss.argmin()]) - h_star) <= 1e-4
    at = torch.tensor([h_star], dtype=torch.float64, requires_grad=True)
    preference_loss(at, torch.zeros_like(at), beta, kind, eps=eps).sum().backward()
    assert abs(float(at.grad)) < 1e-12


def test_losses_without_a_finite_minimum_say_so():
    from prefkit.losses import preference_loss_minimum

    assert preference_loss_minimum(0.1, "dpo") == preference_loss_minimum(0.1, "cdpo", 0.0) == float("inf")
    assert preference_loss_minimum(0.1, "rdpo", 0.2) == float("inf")
    h = torch.tensor([preference_loss_minimum(0.5, "hinge") - 1e-6, 2.0, 5.0], dtype=torch.float64)
    assert preference_loss(h, torch.zeros_like(h), 0.5, "hinge")[1:].abs().max() == 0  # zero from h = 1 / beta on
    assert preference_loss(h, torch.zeros_like(h), 0.5, "hinge")[0] > 0
    with pytest.raises(ValueError, match="unknown preference loss kind"):
        preference_loss_minimum(0.1, "simpo")
