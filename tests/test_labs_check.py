"""Lab checkers: each passes the solution written in its lab notebook, fails the student stub, and explains at
least one plausible wrong answer. Fast: no sampling; the lab 4 training checkers train the shipped tiny policy a
few steps on a few pairs (seconds)."""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prefkit.core import REPO_ROOT
from prefkit.labs import check
from prefkit.labs.student import BEGIN, student_notebook

LABS = Path(__file__).resolve().parent.parent / "labs"
PRELUDE = {"torch": torch, "F": F, "np": np, "re": re, "math": math, "Counter": Counter, "defaultdict": defaultdict,
           "REPO_ROOT": REPO_ROOT}


def _functions(notebook: str, student: bool = False) -> dict:
    """The functions defined by the exercise cells of a lab (solution or generated stub), by name."""
    nb = nbformat.read(LABS / notebook, as_version=4)
    if student:
        nb, _ = student_notebook(nb, notebook)
        solution = nbformat.read(LABS / notebook, as_version=4)
        cells = [c for c, s in zip(nb.cells, solution.cells) if c.cell_type == "code" and BEGIN in s.source]
    else:
        cells = [c for c in nb.cells if c.cell_type == "code" and BEGIN in c.source]
    ns = dict(PRELUDE)
    if "lab6" in notebook:
        from trl import DPOConfig

        from prefkit.models import render_prompt
        ns.update(DPOConfig=DPOConfig, render_prompt=render_prompt)
    for cell in cells:
        exec(compile(cell.source, notebook, "exec"), ns)
    return ns


EXERCISES = [  # notebook, function, checker
    ("lab1_preference_audit.ipynb", "provenance", check.lab1.provenance),
    ("lab1_preference_audit.ipynb", "agreement", check.lab1.agreement),
    ("lab1_preference_audit.ipynb", "leaked_prompts", check.lab1.leaked_prompts),
    ("lab1_preference_audit.ipynb", "slice_report", check.lab1.slice_report),
    ("lab2_reward_model.ipynb", "pairwise_accuracy", check.lab2.pairwise_accuracy),
    ("lab2_reward_model.ipynb", "accuracy_ceiling", check.lab2.accuracy_ceiling),
    ("lab2_reward_model.ipynb", "goodhart_point", check.lab2.goodhart_point),
    ("lab2_reward_model.ipynb", "reward_head", check.lab2.reward_head),
    ("lab2_reward_model.ipynb", "bt_train_step", check.lab2.bt_train_step),
    ("lab3_kl_budget.ipynb", "bon_kl_bound", check.lab3.bon_kl_bound),
    ("lab3_kl_budget.ipynb", "beta_for_budget", check.lab3.beta_for_budget),
    ("lab3_kl_budget.ipynb", "kl_penalized_objective", check.lab3.kl_penalized_objective),
    ("lab3_kl_budget.ipynb", "rloo_gradient", check.lab3.rloo_gradient),
    ("lab4_dpo_from_scratch.ipynb", "dpo_loss", check.lab4.dpo_loss),
    ("lab4_dpo_from_scratch.ipynb", "response_logps", check.lab4.response_logps),
    ("lab4_dpo_from_scratch.ipynb", "dpo_metrics", check.lab4.dpo_metrics),
    ("lab4_dpo_from_scratch.ipynb", "dpo_train_step", check.lab4.dpo_train_step),
    ("lab4_dpo_from_scratch.ipynb", "dpo_train", check.lab4.dpo_train),
    ("lab5_noise_robustness.ipynb", "cdpo_loss", check.lab5.cdpo_loss),
    ("lab5_noise_robustness.ipynb", "rdpo_loss", check.lab5.rdpo_loss),
    ("lab5_noise_robustness.ipynb", "regression_metric", check.lab5.regression_metric),
    ("lab5_noise_robustness.ipynb", "rdpo_train_step", check.lab5.rdpo_train_step),
    ("lab6_trl_bridge.ipynb", "to_trl_rows", check.lab6.trl_rows),
    ("lab6_trl_bridge.ipynb", "parity_config", check.lab6.parity_config),
    ("lab6_trl_bridge.ipynb", "loss_divergence", check.lab6.loss_divergence),
    ("lab6_trl_bridge.ipynb", "parity_break", check.lab6.parity_break),
]
PRESENT = [e for e in EXERCISES if (LABS / e[0]).exists()]


@pytest.mark.parametrize("notebook, fn_name, checker", PRESENT, ids=[e[1] for e in PRESENT])
def test_checker_passes_the_notebook_solution_and_fails_its_stub(notebook, fn_name, checker, capsys):
    solution = _functions(notebook)[fn_name]
    verdict = checker(solution)
    assert verdict, str(verdict)
    assert "[PASS]" in capsys.readouterr().out
    stub = _functions(notebook, student=True)[fn_name]
    verdict = checker(stub, verbose=False)
    assert not verdict and verdict.message == "not implemented yet", str(verdict)


def test_every_lab_exercise_has_a_checker_here():
    missing = [e for e in EXERCISES if e not in PRESENT]
    assert not missing, f"lab notebooks missing: {sorted({e[0] for e in missing})}"


def _wrong(checker, fn):
    verdict = checker(fn, verbose=False)
    assert not verdict
    return verdict.message + " | " + verdict.hint


# ------------------------------------------------------------------------ plausible wrong answers, by lab
def test_lab1_wrong_answers():
    assert "annotators only" in _wrong(check.lab1.provenance, lambda rows: dict(Counter(r["annotator"] for r in rows)))

    def positional(first, second):
        same = [a["chosen"] == b["chosen"] for a, b in zip(first, second)]
        out = {"all": float(np.mean(same))}
        for s in {r["slice"] for r in first}:
            out[s] = float(np.mean([x for x, r in zip(same, first) if r["slice"] == s]))
        return out
    assert "compared by position" in _wrong(check.lab1.agreement, positional)
    assert "only exact copies" in _wrong(check.lab1.leaked_prompts, lambda tr, ho: set(ho) & set(tr))

    def rejected_rate(rows, classify):
        out = defaultdict(lambda: {"n": 0, "chosen_refusal_rate": 0.0})
        for r in rows:
            out[r["slice"]]["n"] += 1
        for r in rows:
            out[r["slice"]]["chosen_refusal_rate"] += (classify(r["prompt"], r["rejected"]) == "refuse") / out[r["slice"]]["n"]
        return dict(out)
    assert "REJECTED" in _wrong(check.lab1.slice_report, rejected_rate)


def test_lab2_wrong_answers():
    assert "ties are counted as correct" in _wrong(check.lab2.pairwise_accuracy, lambda w, l: float(np.mean(w >= l)))
    assert "ties are counted as wrong" in _wrong(check.lab2.pairwise_accuracy, lambda w, l: float(np.mean(w > l)))
    assert "not the ceiling" in _wrong(check.lab2.accuracy_ceiling, lambda p: float(np.mean(p)))
    assert "proxy peaks" in _wrong(check.lab2.goodhart_point, lambda ns, proxy, gold: ns[int(np.argmax(proxy))])
    assert "index" in _wrong(check.lab2.goodhart_point, lambda ns, proxy, gold: int(np.argmax(gold)))


def _bt_step(sign=1.0, mean=True, zero_grad=True, shift_invariant=True, step=True):
    """A Bradley-Terry training step with one of the usual mistakes switched on."""
    def train_step(head, f_w, f_l, optimizer):
        if zero_grad:
            optimizer.zero_grad()
        r_w, r_l = head(f_w), head(f_l)
        per_pair = -F.logsigmoid(r_w - r_l) if shift_invariant else -F.logsigmoid(r_w) - F.logsigmoid(-r_l)
        loss = per_pair.mean() if mean else per_pair.sum()
        (sign * loss).backward()
        if step:
            optimizer.step()
        return loss.item()
    return train_step


def test_lab2_reward_head_and_step_wrong_answers():
    assert "not shape (5,)" in _wrong(check.lab2.reward_head, lambda hidden: torch.nn.Linear(hidden, 1))
    frozen = lambda hidden: torch.nn.Sequential(torch.nn.Linear(hidden, 1), torch.nn.Flatten(0)).requires_grad_(False)
    assert "no trainable parameters" in _wrong(check.lab2.reward_head, frozen)
    assert check.lab2.bt_train_step(_bt_step(), verbose=False)  # the same step written another way passes
    assert "climbs the loss" in _wrong(check.lab2.bt_train_step, _bt_step(sign=-1.0))
    assert "summed" in _wrong(check.lab2.bt_train_step, _bt_step(mean=False))
    assert "earlier steps are added" in _wrong(check.lab2.bt_train_step, _bt_step(zero_grad=False))
    assert "same constant to both rewards" in _wrong(check.lab2.bt_train_step, _bt_step(shift_invariant=False))
    assert "did not change" in _wrong(check.lab2.bt_train_step, _bt_step(step=False))


def test_lab3_wrong_answers():
    assert "loose bound" in _wrong(check.lab3.bon_kl_bound, lambda n: math.log(n))

    def wrong_direction(bandit, budget):  # bisects as if larger beta moved further from pi_ref
        lo, hi = 1e-3, 1e3
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if bandit.kl(bandit.optimal_policy(mid)) > budget else (lo, mid)
        return lo / 10
    assert "over the budget" in _wrong(check.lab3.beta_for_budget, wrong_direction)

    def added(logits, r, ref, beta):
        logp = torch.log_softmax(logits, -1)
        return (logp.exp() * r).sum() + beta * (logp.exp() * (logp - ref.log())).sum()
    assert "KL term is added" in _wrong(check.lab3.kl_penalized_objective, added)

    def reverse(logits, r, ref, beta):
        logp = torch.log_softmax(logits, -1)
        return (logp.exp() * r).sum() - beta * (ref * (ref.log() - logp)).sum()
    assert "reverse direction" in _wrong(check.lab3.kl_penalized_objective, reverse)


def _rloo(baseline="others", kl_sign=-1.0, detach=True, beta_fixed=None, ascend=True):
    """The checker's own RLOO reference estimate, as a student's function, with one of the usual mistakes on."""
    from prefkit.labs.check.lab3 import _rloo_reference

    def estimate(logits, actions, rewards, ref_probs, beta):
        grad = _rloo_reference(logits, actions, rewards, ref_probs, beta if beta_fixed is None else beta_fixed,
                               baseline=baseline, kl_sign=kl_sign, detach=detach)
        return grad if ascend else -grad
    return estimate


def test_lab3_rloo_wrong_answers():
    assert check.lab3.rloo_gradient(_rloo(), verbose=False)  # the same estimate written another way passes
    no_baseline = _wrong(check.lab3.rloo_gradient, _rloo(baseline="none"))  # unbiased, but not RLOO's variance
    assert "unbiased" in no_baseline and "variance" in no_baseline
    assert "own reward is in its baseline" in _wrong(check.lab3.rloo_gradient, _rloo(baseline="all"))
    assert "added to the reward" in _wrong(check.lab3.rloo_gradient, _rloo(kl_sign=1.0))
    assert "differentiated" in _wrong(check.lab3.rloo_gradient, _rloo(detach=False))
    assert "beta is missing" in _wrong(check.lab3.rloo_gradient, _rloo(beta_fixed=1.0))
    assert "minus the gradient" in _wrong(check.lab3.rloo_gradient, _rloo(ascend=False))


def test_lab4_metrics_and_lab5_metric_wrong_answers():
    def no_beta(cw, cl, beta):
        return {"rewards/chosen": cw.mean().item(), "rewards/rejected": cl.mean().item(),
                "rewards/margins": (cw - cl).mean().item(), "rewards/accuracies": (cw > cl).float().mean().item()}
    assert "log-ratio itself" in _wrong(check.lab4.dpo_metrics, no_beta)

    def ties(cw, cl, beta):
        return {**no_beta(beta * cw, beta * cl, beta), "rewards/accuracies": (cw >= cl).float().mean().item()}
    assert "ties as correct" in _wrong(check.lab4.dpo_metrics, ties)
    assert "how far a policy moved from the reference" in _wrong(check.lab5.regression_metric, lambda b, p, beta: b.kl(p))
    assert "greedy" in _wrong(check.lab5.regression_metric, lambda b, p, beta: -b.expected_reward(p))


def _lab4_step(zero_grad=True, no_grad_ref=True, backward=True, step=True, ascend=False):
    """A DPO training step written from the lab's own functions, with one of the usual mistakes switched on."""
    ns = _functions("lab4_dpo_from_scratch.ipynb")
    response_logps, dpo_loss = ns["response_logps"], ns["dpo_loss"]

    def logps(model, batch, side):
        logits = model(input_ids=batch[f"{side}_input_ids"], attention_mask=batch[f"{side}_attention_mask"]).logits
        return response_logps(logits, batch[f"{side}_input_ids"], batch[f"{side}_response_mask"])

    def train_step(policy, ref, batch, optimizer, beta):
        if zero_grad:
            optimizer.zero_grad()
        pw, pl = logps(policy, batch, "chosen"), logps(policy, batch, "rejected")
        with torch.no_grad() if no_grad_ref else torch.enable_grad():
            rw, rl = logps(ref, batch, "chosen"), logps(ref, batch, "rejected")
        loss = dpo_loss(pw, pl, rw, rl, beta).mean()
        if backward:
            (-loss if ascend else loss).backward()
        if step:
            optimizer.step()
        return loss.item()
    return train_step


def test_lab4_training_step_wrong_answers():
    assert "earlier steps are added" in _wrong(check.lab4.dpo_train_step, _lab4_step(zero_grad=False))
    assert "gradients flow into pi_ref" in _wrong(check.lab4.dpo_train_step, _lab4_step(no_grad_ref=False))
    assert "hold no gradient" in _wrong(check.lab4.dpo_train_step, _lab4_step(backward=False))
    assert "did not change" in _wrong(check.lab4.dpo_train_step, _lab4_step(step=False))
    assert "loss rises" in _wrong(check.lab4.dpo_train_step, _lab4_step(ascend=True))


def test_lab4_training_loop_wrong_answers():
    train_step = _lab4_step()

    def fresh_optimizer(policy, ref, batch, steps, lr, beta):
        return [train_step(policy, ref, batch, torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0), beta)
                for _ in range(steps)]
    assert "built anew at every step" in _wrong(check.lab4.dpo_train, fresh_optimizer)

    def trains_a_copy(policy, ref, batch, steps, lr, beta):
        import copy
        model = copy.deepcopy(policy)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        return [train_step(model, ref, batch, optimizer, beta) for _ in range(steps)]
    assert "did not change" in _wrong(check.lab4.dpo_train, trains_a_copy)


def test_lab4_training_step_and_loop_that_delegate_to_prefkit_fail_and_are_told_so():
    from prefkit.train.dpo import DPOConfig, dpo_step

    cfg = DPOConfig(beta=0.1, precompute_ref=False)

    def step_via_prefkit(policy, ref, batch, optimizer, beta):  # right losses: without the check it would pass
        optimizer.zero_grad()
        loss, _ = dpo_step(policy, batch, cfg, ref=ref)
        loss.backward()
        optimizer.step()
        return loss.item()

    def loop_via_prefkit(policy, ref, batch, steps, lr, beta):
        optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
        return [step_via_prefkit(policy, ref, batch, optimizer, beta) for _ in range(steps)]

    for checker, fn in ((check.lab4.dpo_train_step, step_via_prefkit), (check.lab4.dpo_train, loop_via_prefkit)):
        verdict = checker(fn, verbose=False)
        assert not verdict and "prefkit's own implementation" in verdict.message, str(verdict)
        assert "prefkit.train.dpo.dpo_step" in verdict.message, str(verdict)


def _rdpo_step(loss="rdpo"):
    """An rDPO training step written from the lab's own losses; ``loss`` names the one it minimizes."""
    from prefkit.train.dpo import policy_logps

    ns = _functions("lab5_noise_robustness.ipynb")
    losses = {"rdpo": ns["rdpo_loss"], "cdpo": ns["cdpo_loss"], "dpo": lambda w, l, beta, eps: ns["rdpo_loss"](
        w, l, beta, 0.0)}

    def train_step(policy, ref, batch, optimizer, beta, eps):
        optimizer.zero_grad()
        logp_w, logp_l = policy_logps(policy, batch)[0].chunk(2)
        with torch.no_grad():
            ref_w, ref_l = policy_logps(ref, batch)[0].chunk(2)
        value = losses[loss](logp_w - ref_w, logp_l - ref_l, beta, eps).mean()
        value.backward()
        optimizer.step()
        return value.item()
    return train_step


def test_lab5_rdpo_step_wrong_answers_and_delegation():
    assert "eps is not used" in _wrong(check.lab5.rdpo_train_step, _rdpo_step("dpo"))
    assert "cDPO's" in _wrong(check.lab5.rdpo_train_step, _rdpo_step("cdpo"))
    from prefkit.train.dpo import DPOConfig, dpo_step

    cfg = DPOConfig(beta=0.1, kind="rdpo", eps=check.lab5.EPS, precompute_ref=False)

    def via_prefkit(policy, ref, batch, optimizer, beta, eps):  # right losses: without the check it would pass
        optimizer.zero_grad()
        loss, _ = dpo_step(policy, batch, cfg, ref=ref)
        loss.backward()
        optimizer.step()
        return loss.item()
    verdict = check.lab5.rdpo_train_step(via_prefkit, verbose=False)
    assert not verdict and "prefkit.train.dpo.dpo_step" in verdict.message, str(verdict)


def test_lab6_wrong_answers():
    from trl import DPOConfig

    raw = lambda tok, data: [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in data]
    assert "chat template" in _wrong(check.lab6.trl_rows, raw)

    def defaults(steps, batch_size, lr, beta):  # TRL's defaults: bf16 and a decaying, shuffled schedule
        return DPOConfig(output_dir="/tmp/unused", max_steps=steps, per_device_train_batch_size=batch_size,
                         learning_rate=lr, beta=beta, use_cpu=True, bf16=False)
    assert "lr_scheduler_type" in _wrong(check.lab6.parity_config, defaults)


def test_lab6_parity_experiment_wrong_answers():
    import dataclasses

    def positional(ours, theirs):
        gaps = [abs(a["loss"] - b["loss"]) for a, b in zip(ours, theirs)]
        return next((i for i, g in enumerate(gaps) if g > 1e-4), None), max(gaps)
    assert "off by one" in _wrong(check.lab6.loss_divergence, positional)

    def signed(ours, theirs):
        gaps = [b["loss"] - a["loss"] for a, b in zip(ours, theirs)]
        return next((a["step"] for a, g in zip(ours, gaps) if abs(g) > 1e-4), None), max(gaps)
    assert "signed" in _wrong(check.lab6.loss_divergence, signed)

    parity_config = _functions("lab6_trl_bridge.ipynb")["parity_config"]
    unbroken = lambda steps, batch, lr, beta: (parity_config(steps, batch, lr, beta), "lr_scheduler_type")
    assert "nothing is broken" in _wrong(check.lab6.parity_break, unbroken)

    def two(steps, batch, lr, beta):
        return dataclasses.replace(parity_config(steps, batch, lr, beta), lr_scheduler_type="linear",
                                   weight_decay=0.1), "lr_scheduler_type"
    assert "2 settings differ" in _wrong(check.lab6.parity_break, two)

    def misnamed(steps, batch, lr, beta):
        return dataclasses.replace(parity_config(steps, batch, lr, beta), optim="adamw_torch_fused"), "bf16"
    assert "the one changed is 'optim'" in _wrong(check.lab6.parity_break, misnamed)


# ------------------------------------------------------------------------ delegation to prefkit, bf16 on a CPU
def _bt_step_via_prefkit(head, f_w, f_l, optimizer):  # right updates: without the check it would pass
    from prefkit.train.reward import reward_loss

    optimizer.zero_grad()
    loss = reward_loss(head(f_w), head(f_l))
    loss.backward()
    optimizer.step()
    return loss.item()


def test_a_function_that_calls_prefkits_own_implementation_fails_and_is_told_so():
    from prefkit.evaluate.reward_audit import pairwise_accuracy
    from prefkit.labs import trl_bridge
    from prefkit.losses import implicit_reward, preference_loss
    from prefkit.train.bon_estimators import kl_bound

    def dpo_via_prefkit(pc, pr, rc, rr, beta):  # right values: without the check it would pass
        return preference_loss(pc - rc, pr - rr, beta, "dpo")

    pc, pr, rc, rr = (torch.randn(8, dtype=torch.float64) for _ in range(4))
    assert torch.allclose(dpo_via_prefkit(pc, pr, rc, rr, 0.1), _functions("lab4_dpo_from_scratch.ipynb")["dpo_loss"](
        pc, pr, rc, rr, 0.1))
    cases = [
        (check.lab4.dpo_loss, dpo_via_prefkit, "prefkit.losses.preference_loss"),
        (check.lab4.dpo_metrics, lambda cw, cl, beta: {
            "rewards/chosen": implicit_reward(cw, beta).mean()}, "prefkit.losses.implicit_reward"),
        (check.lab5.cdpo_loss, lambda cw, cl, beta, eps: preference_loss(cw, cl, beta, "cdpo", eps),
         "prefkit.losses.preference_loss"),
        (check.lab5.rdpo_loss, lambda cw, cl, beta, eps: preference_loss(cw, cl, beta, "rdpo", eps),
         "prefkit.losses.preference_loss"),
        (check.lab2.pairwise_accuracy, pairwise_accuracy, "prefkit.evaluate.reward_audit.pairwise_accuracy"),
        (check.lab2.bt_train_step, _bt_step_via_prefkit, "prefkit.train.reward.reward_loss"),
        (check.lab3.bon_kl_bound, kl_bound, "prefkit.train.bon_estimators.kl_bound"),
        (check.lab6.trl_rows, trl_bridge.trl_rows, "prefkit.labs.trl_bridge.trl_rows"),
        (check.lab6.parity_config, lambda steps, batch_size, lr, beta: trl_bridge.trl_config(
            steps=steps, batch_size=batch_size, lr=lr, beta=beta), "prefkit.labs.trl_bridge.trl_config"),
        (check.lab6.parity_break, lambda steps, batch_size, lr, beta: (trl_bridge.trl_config(
            steps=steps, batch_size=batch_size, lr=lr, beta=beta, lr_scheduler_type="linear"), "lr_scheduler_type"),
         "prefkit.labs.trl_bridge.trl_config"),
    ]
    for checker, fn, called in cases:
        verdict = checker(fn, verbose=False)
        assert not verdict and "prefkit's own implementation" in verdict.message and called in verdict.message, (
            checker.__name__, str(verdict))


def test_lab6_bf16_refused_on_a_cpu_gets_its_own_diagnosis(monkeypatch):
    import transformers.training_args
    from trl import DPOConfig

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: False)  # as on a CPU

    def first_attempt(steps, batch_size, lr, beta):  # TRL's bf16 default left on, no use_cpu
        return DPOConfig(output_dir="/tmp/unused", max_steps=steps, per_device_train_batch_size=batch_size,
                         learning_rate=lr, beta=beta)

    with pytest.raises(ValueError, match="bf16"):
        first_attempt(1, 1, 1e-3, 0.1)
    verdict = check.lab6.parity_config(first_attempt, verbose=False)
    assert not verdict and "turns bf16 on" in verdict.message and "no GPU" in verdict.message, str(verdict)
    assert "bf16=False" in verdict.hint and "use_cpu=True" in verdict.hint
    other = check.lab6.parity_config(lambda *a: int("x"), verbose=False)  # any other error: the general message
    assert "it raised ValueError" in other.message


def test_lab6_parity_break_with_bf16_refused_on_a_cpu_gets_its_own_diagnosis(monkeypatch):
    import transformers.training_args
    from trl import DPOConfig

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: False)  # as on a CPU

    def bf16_break(steps, batch_size, lr, beta):  # bf16 switched on without use_cpu: refused on a CPU
        return DPOConfig(output_dir="/tmp/unused", max_steps=steps, per_device_train_batch_size=batch_size,
                         learning_rate=lr, beta=beta, bf16=True), "bf16"

    with pytest.raises(ValueError, match="bf16"):
        bf16_break(1, 1, 1e-3, 0.1)
    verdict = check.lab6.parity_break(bf16_break, verbose=False)
    assert not verdict and "refused bf16" in verdict.message and "another setting" in verdict.hint, str(verdict)
