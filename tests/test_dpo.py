"""DPO and its relatives on the shipped reference policy: the start point, padding, accumulation, resume, the
divergence guard, the reference-log-prob cache, every loss kind, and the course's claims on held-out prompts."""
from __future__ import annotations

import copy
import importlib
import json
import math
import time

import pytest
import torch
from datasets import Dataset

from prefkit.core import RunDir
from prefkit.data import load_preferences
from prefkit.evaluate import kl_to_reference, sample_responses
from prefkit.models import load_policy
from prefkit.train import DPOConfig, TrainingDiverged, train_dpo
from prefkit.train.dpo import KINDS, dpo_step, policy_logps
from prefkit.train.loop import last_checkpoint
from prefkit.train.pairs import encode_pairs, select_pairs
from prefkit.train.refcache import module_hash

dpo_module = importlib.import_module("prefkit.train.dpo")
CLEAN = "data/assistant/prefs/clean"


@pytest.fixture(scope="module")
def shipped():
    return load_policy("assistant-sft")


@pytest.fixture(scope="module")
def pairs():
    return load_preferences(CLEAN, "train[:64]")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFKIT_CACHE", str(tmp_path / "cache"))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _cfg(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "runs"), eval_samples_per_prompt=0, progress=False, warmup_steps=0,
                log_every=1, steps=2, batch_size=8, lr=1e-3)
    return DPOConfig(**{**base, **kw})


def _copy(shipped):
    return copy.deepcopy(shipped[0]), shipped[1]


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


# ------------------------------------------------------------------------------------------ start point
def test_step0_loss_is_log2_and_reference_logps_equal_policy_logps(shipped, pairs, tmp_path):
    policy, tok = _copy(shipped)
    start = copy.deepcopy(policy)
    result = train_dpo(_cfg(tmp_path, steps=1, batch_size=16), model=policy, tokenizer=tok, dataset=pairs)
    model, history = result.model, result.history
    first = history[0]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    for k in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert first[k] == pytest.approx(0.0, abs=1e-6)
    assert first["rewards/accuracies"] == 0.0  # ties are not wins
    # pair by pair: the cached log pi_ref equals log pi_theta at step 0, in the training batch layout
    record = result.run.read_record()
    assert record["ref_logps_cache"]["hit"] is False
    assert record["reference_model"].startswith("a frozen copy of") and "assistant-sft" in record["reference_model"]
    from safetensors.torch import load_file
    cached = load_file(record["ref_logps_cache"]["path"])
    tensors = encode_pairs(tok, pairs["prompt"], pairs["chosen"], pairs["rejected"], max_length=128)
    batch = select_pairs(tensors, list(range(16)))
    sums, _ = policy_logps(start, batch)
    chosen, rejected = sums.detach().chunk(2)
    torch.testing.assert_close(chosen, cached["ref_chosen_logps"][:16], rtol=0, atol=1e-5)
    torch.testing.assert_close(rejected, cached["ref_rejected_logps"][:16], rtol=0, atol=1e-5)
    assert (chosen - rejected).abs().max() > 1  # distinct responses: the equality above is not of constants


def test_left_and_right_padding_give_the_same_logps_and_rewards(shipped, pairs):
    ref, tok = shipped
    policy = copy.deepcopy(ref)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a policy that differs from pi_ref, so the rewards are not all zero
        for p in policy.parameters():
            p.add_(0.05 * p.std() * torch.randn(p.shape, generator=gen))
    cfg = DPOConfig(beta=0.1)
    out = {}
    for side in ("left", "right"):
        tensors = encode_pairs(tok, pairs["prompt"][:12], pairs["chosen"][:12], pairs["rejected"][:12],
                               padding_side=side)
        batch = select_pairs(tensors, range(12))
        with torch.no_grad():
            sums, counts = policy_logps(policy, batch)
            loss, metrics = dpo_step(policy, batch, cfg, ref)
        out[side] = (sums, counts, loss, metrics)
    assert len(set(len(p.split()) + len(c.split()) for p, c in zip(pairs["prompt"][:12], pairs["chosen"][:12]))) > 1
    torch.testing.assert_close(out["left"][0], out["right"][0], rtol=0, atol=1e-4)
    assert torch.equal(out["left"][1], out["right"][1])
    torch.testing.assert_close(out["left"][2], out["right"][2], rtol=0, atol=1e-6)
    for k, v in out["right"][3].items():
        torch.testing.assert_close(out["left"][3][k], v, rtol=0, atol=1e-5)
    assert abs(float(out["right"][3]["rewards/margins"])) > 1e-3


# ------------------------------------------------------------------------------------------ the loop
def test_four_accumulated_micro_batches_of_4_equal_one_batch_of_16(shipped, pairs, tmp_path):
    data = pairs.select(range(16))
    after = {}
    for accum in (1, 4):
        policy, tok = _copy(shipped)
        result = train_dpo(_cfg(tmp_path / str(accum), steps=1, batch_size=16, grad_accum=accum, lr=5e-5),
                          model=policy, tokenizer=tok, dataset=data)
        model, hist = result.model, result.history
        grads = {k: p.grad.clone() for k, p in model.named_parameters()}  # the step's (clipped) gradient
        after[accum] = (_params(model), grads, hist[0])
    assert after[4][2]["loss"] == pytest.approx(after[1][2]["loss"], abs=1e-6)
    assert after[4][2]["grad_norm"] == pytest.approx(after[1][2]["grad_norm"], rel=1e-5)
    for k, g in after[1][1].items():  # the accumulated gradient is the big batch's gradient (measured: 1e-7)
        torch.testing.assert_close(after[4][1][k], g, rtol=0, atol=1e-6)
    start = _params(shipped[0])
    assert min(float((after[1][0][k] - start[k]).abs().max()) for k in start) > 4e-5  # every tensor moved
    # Adam's first step is lr * g / (|g| + 1e-8): entries whose gradient is ~1e-8 turn float32 summation-order
    # differences (1e-7 here) into differences of up to lr / 10 in the weights, hence the small lr.
    for k, v in after[1][0].items():
        torch.testing.assert_close(after[4][0][k], v, rtol=0, atol=1e-5)


def test_a_crashed_and_resumed_run_ends_where_the_uninterrupted_run_ends(shipped, pairs, tmp_path, monkeypatch):
    common = dict(steps=6, batch_size=8, log_every=1)
    result = train_dpo(_cfg(tmp_path / "a", **common), model=_copy(shipped)[0], tokenizer=shipped[1],
                          dataset=pairs)
    full, full_hist = result.model, result.history
    run_dir = tmp_path / "b"
    real, calls = dpo_module.dpo_step, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the laptop lid closes during step 5
        return real(*args, **kwargs)

    monkeypatch.setattr(dpo_module, "dpo_step", crashing)
    with pytest.raises(KeyboardInterrupt):
        train_dpo(_cfg(tmp_path, run_dir=str(run_dir), save_every=3, **common), model=_copy(shipped)[0],
            tokenizer=shipped[1], dataset=pairs)
    monkeypatch.setattr(dpo_module, "dpo_step", real)
    assert json.loads((last_checkpoint(RunDir(run_dir)) / "trainer_state.json").read_text())["step"] == 3
    result = train_dpo(_cfg(tmp_path, run_dir=str(run_dir), resume=True, **common), model=_copy(shipped)[0],
                        tokenizer=shipped[1], dataset=pairs)
    resumed, hist = result.model, result.history
    assert [h["step"] for h in hist] == [4, 5, 6]
    assert [r["step"] for r in RunDir(run_dir).read_metrics()] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(hist, full_hist[3:]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    for k, v in _params(full).items():
        torch.testing.assert_close(dict(resumed.named_parameters())[k].detach(), v, rtol=0, atol=1e-5)
    assert RunDir(run_dir).read_record()["resumed"] is True


def test_an_infinite_log_prob_stops_with_the_step_and_the_cause(shipped, pairs, tmp_path, monkeypatch):
    real, calls = dpo_module.policy_logps, []

    def poisoned(model, batch):
        sums, counts = real(model, batch)
        calls.append(model.training)  # the reference pass before training runs in eval mode
        if sum(calls) == 3 and model.training:  # step 3: a response token the policy gives probability 0
            sums = sums.clone()
            sums[0] = float("-inf")
        return sums, counts

    monkeypatch.setattr(dpo_module, "policy_logps", poisoned)
    with pytest.raises(TrainingDiverged) as info:
        train_dpo(_cfg(tmp_path, steps=5, run_dir=str(tmp_path / "run")), model=_copy(shipped)[0], tokenizer=shipped[1],
            dataset=pairs)
    msg = str(info.value)
    assert msg.startswith("step 3: the loss is inf") and "non-finite" in msg and "logps/chosen" in msg
    assert last_checkpoint(RunDir(tmp_path / "run")) is not None and "checkpoint" in msg


# ------------------------------------------------------------------------------------------ reference
def test_reference_logps_cache_is_hit_and_invalidated(shipped, pairs, tmp_path, monkeypatch):
    calls = []
    real = dpo_module.reference_logps
    monkeypatch.setattr(dpo_module, "reference_logps", lambda *a, **k: calls.append(1) or real(*a, **k))

    def run(name, data=pairs, ref=None, **kw):
        result = train_dpo(_cfg(tmp_path / name, steps=1, **kw), model=_copy(shipped)[0], ref=ref,
                           tokenizer=shipped[1], dataset=data)
        return result.read_record()["ref_logps_cache"]

    first = run("first")
    second = run("second")
    assert (first["hit"], second["hit"], len(calls)) == (False, True, 1)
    assert second["path"] == first["path"]
    rows = pairs.to_list()
    rows[0] = {**rows[0], "chosen": rows[0]["rejected"], "rejected": rows[0]["chosen"]}  # one pair relabelled
    relabelled = Dataset.from_list(rows)
    assert run("data", data=relabelled)["hit"] is False
    other = copy.deepcopy(shipped[0])
    with torch.no_grad():
        other.model.norm.weight.mul_(1.01)
    assert module_hash(other) != module_hash(shipped[0])
    assert run("ref", ref=other)["hit"] is False
    assert run("mean", logps="mean")["hit"] is False
    assert run("template", template="chatml")["hit"] is False
    assert run("again")["hit"] is True and len(calls) == 5


def test_scoring_the_frozen_reference_each_step_matches_the_precomputed_run(shipped, pairs, tmp_path):
    ref = copy.deepcopy(shipped[0]).train()
    before = _params(ref)
    result = train_dpo(_cfg(tmp_path / "live", steps=3, precompute_ref=False), model=_copy(shipped)[0], ref=ref,
                      tokenizer=shipped[1], dataset=pairs)
    model, live = result.model, result.history
    assert not ref.training and not any(p.requires_grad for p in ref.parameters())
    assert all(torch.equal(before[k], v) for k, v in _params(ref).items())
    assert "ref_logps_cache" not in result.run.read_record()
    cached = train_dpo(_cfg(tmp_path / "cached", steps=3), model=_copy(shipped)[0], tokenizer=shipped[1], dataset=pairs).history
    for a, b in zip(live, cached):
        for k in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen"):
            assert a[k] == pytest.approx(b[k], abs=1e-5), (a["step"], k)
    assert abs(live[-1]["rewards/margins"]) > 1e-2  # the policy has moved away from pi_ref by then


@pytest.mark.parametrize("kind", KINDS)
def test_each_loss_kind_lowers_its_loss(kind, shipped, pairs, tmp_path, monkeypatch):
    extra = {"cdpo": {"eps": 0.1}, "rdpo": {"eps": 0.1}, "simpo": {"beta": 2.0}}.get(kind, {})
    if kind in ("simpo", "orpo"):  # reference-free: nothing may load or score a reference model
        monkeypatch.setattr(dpo_module, "load_policy", lambda *a, **k: pytest.fail("loaded a reference"))
        extra["reference"] = None
    data = pairs.select(range(16))
    result = train_dpo(_cfg(tmp_path, kind=kind, steps=8, batch_size=16, **extra), model=_copy(shipped)[0],
                      tokenizer=shipped[1], dataset=data)
    model, hist = result.model, result.history
    losses = [h["loss"] for h in hist]
    assert losses[-1] < 0.9 * losses[0], losses  # the same 16 pairs every step: the loss must fall clearly
    assert hist[-1]["rewards/margins"] > hist[0]["rewards/margins"]
    trl_names = {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected"}
    assert trl_names <= set(hist[0])
    record = result.run.read_record()
    assert record["kind"] == kind and (record["reference_model"] is None) == (kind in ("simpo", "orpo"))


# ------------------------------------------------------------------------- the course's claims (real recipe)
def _z_drop(before: dict, after: dict, rate: str) -> float:
    """Two-proportion z statistic of a drop in ``rate`` between two slice summaries (n samples each)."""
    p0, n0, p1, n1 = before[rate], before["n"], after[rate], after["n"]
    pooled = (p0 * n0 + p1 * n1) / (n0 + n1)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n0 + 1 / n1))
    return (p0 - p1) / se


@pytest.fixture(scope="module")
def recipe_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("refcache"))


STEP_BUDGET = 250
"""The default recipe's whole cost (80 optimizer steps, the reference log-probs of 3000 pairs, sampling and scoring
the held-out evaluation) in recipe-sized optimizer steps: 146 measured on 2026-12-04 (190 CPU-s, a step 1.30 s).
The budget leaves room for the load on a shared machine changing between the probe and the run, and still fails
a recipe that doubles its work; on a laptop core whose step takes 0.7 s it is under 3 minutes."""


def _cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _probe_step_seconds(shipped) -> float:
    """CPU seconds of one DPO optimizer step of the recipe's size (32 pairs) on this machine, now.

    The recipe's cost is counted in these steps, so the budget holds on a fast laptop and on a slow, shared CI
    machine alike: under the full suite this fixture took 110 s on one 2-core machine and 215 s on another.
    """
    model, tok = _copy(shipped)
    model.train()
    pairs = load_preferences(CLEAN, "train[:32]")
    batch = encode_pairs(tok, pairs["prompt"], pairs["chosen"], pairs["rejected"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    times = []
    for _ in range(4):  # the first step warms the allocator up and is not counted
        t0 = _cpu_seconds()
        sums, _ = policy_logps(model, batch)
        sums.sum().backward()
        opt.step()
        opt.zero_grad()
        times.append(_cpu_seconds() - t0)
    return min(times[1:])


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, recipe_cache, shipped):
    """The laptop recipe exactly as shipped (DPOConfig() defaults), timed end to end with a cold cache, and the
    CPU time of one recipe-sized optimizer step measured just before it."""
    root = tmp_path_factory.mktemp("recipe")
    probe = _probe_step_seconds(shipped)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    result = train_dpo(DPOConfig(output_dir=str(root), cache_dir=recipe_cache, progress=False))
    model, history = result.model, result.history
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    print(f"\ndefault DPO recipe: {wall:.0f} s wall, {cpu:.0f} s CPU, one thread (training + evaluation); "
          f"one optimizer step of 32 pairs: {probe:.2f} CPU-s, so the run costs {cpu / probe:.0f} steps")
    return model, history, wall, cpu, result.run, probe


@pytest.mark.slow
def test_dpo_recipe_beats_the_reference_on_held_out_prompts(default_run):
    model, history, wall, cpu, run, probe = default_run
    result = json.loads(run.eval_path.read_text())
    pol, ref = result["summary"], result["reference"]
    print(f"gold {pol['gold_reward']:.3f} vs {ref['gold_reward']:.3f}; benign refusal {pol['refusal_rate/benign']:.3f} "
          f"vs {ref['refusal_rate/benign']:.3f}; borderline {pol['refusal_rate/borderline']:.3f} vs "
          f"{ref['refusal_rate/borderline']:.3f}; harmful compliance {pol['harmful_compliance']:.3f} vs "
          f"{ref['harmful_compliance']:.3f}; win rate {result['win_rate']:.3f}; KL k3 {result['kl/k3']:.2f}")
    last = history[-4:]  # steps 65-80 (measured over seeds 0-3: loss 0.49-0.52, accuracy 0.75-0.80)
    assert sum(r["loss"] for r in last) / 4 < math.log(2) - 0.1
    assert sum(r["rewards/accuracies"] for r in last) / 4 > 0.7
    # gold reward: higher on average, and the policy wins the paired comparison beyond chance (SE 0.028)
    assert pol["gold_reward"] > ref["gold_reward"] + 0.2
    assert result["win_rate"] > 0.5 + 2 * math.sqrt(0.25 / len(result["samples"]))
    # fewer refusals of benign prompts and less harmful compliance: drops of more than 2 SE (measured over seeds
    # 0-3: benign 3.6-4.5 SE, harmful 4.7-5.4 SE); borderline over-refusal falls too (2.0-3.6 SE)
    assert _z_drop(ref["by_slice"]["benign"], pol["by_slice"]["benign"], "refusal_rate") > 2
    assert _z_drop(ref["by_slice"]["harmful"], pol["by_slice"]["harmful"], "compliance_rate") > 2
    assert _z_drop(ref["by_slice"]["borderline"], pol["by_slice"]["borderline"], "refusal_rate") > 0
    # training + evaluation cost at most STEP_BUDGET optimizer steps of 32 pairs, measured on this machine (CPU
    # time: other jobs stretch the wall clock, not the work): under 3 minutes of one laptop core
    assert cpu < STEP_BUDGET * probe, f"{cpu:.0f} CPU-seconds = {cpu / probe:.0f} steps of {probe:.2f} s ({wall:.0f} s wall)"


@pytest.mark.slow
def test_kl_to_the_reference_falls_as_beta_grows(default_run, shipped, recipe_cache, tmp_path):
    """The shipped recipe at beta 0.05, 0.1 (the default run) and 0.5, KL measured as evaluate_run measures it.

    Adam moves every beta at the same speed while beta h is small; beta acts once sigmoid(-beta h) saturates, so
    the run must go that far: 40 steps at lr 2e-4 do not separate the three (0.37, 0.36, 0.23 nats).
    The comparison uses k1 = log pi/pi_ref: k3 adds pi_ref/pi - 1, whose tail explodes when the policy samples a
    response pi_ref prefers (one unlearned refusal scored 1056 nats), so its intervals are up to 10x wider.
    """
    model, _, _, _, run, _ = default_run
    ref, tok = shipped
    default = json.loads(run.eval_path.read_text())
    kl = {0.1: (default["kl/k1"], default["kl/k1_ci95"], default["kl/k3"])}
    for beta in (0.05, 0.5):  # the reference log-probs come from the default run's cache
        policy = train_dpo(DPOConfig(beta=beta, output_dir=str(tmp_path), cache_dir=recipe_cache,
                                  eval_samples_per_prompt=0, progress=False)).model
        samples = sample_responses(policy, tok, samples_per_prompt=default["samples_per_prompt"], seed=0)
        out = kl_to_reference(policy, ref, tok, samples)  # as evaluate_run measured beta = 0.1
        kl[beta] = (out["kl/k1"], out["kl/k1_ci95"], out["kl/k3"])
    print("KL(pi || pi_ref) in nats, k1 [95% CI] and k3:",
          {b: (round(k, 2), [round(c, 2) for c in ci], round(k3, 2)) for b, (k, ci, k3) in sorted(kl.items())})
    (k_lo, ci_lo, _), (k_mid, ci_mid, _), (k_hi, ci_hi, _) = kl[0.05], kl[0.1], kl[0.5]
    assert k_lo > k_mid > k_hi > 0
    assert ci_lo[0] > ci_mid[1] and ci_mid[0] > ci_hi[1]  # the 95% intervals do not overlap
