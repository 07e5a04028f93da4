"""The shared training loop: run directory, metrics, checkpoints, resume and the divergence guard."""
from __future__ import annotations

import importlib
import json
import os
import sys

import pytest
import torch
from safetensors.torch import load_file

from prefkit.core import RunDir
from prefkit.models import load_policy, score_responses
from prefkit.train import SFTConfig, TrainingDiverged, train_sft
from prefkit.train.loop import last_checkpoint, train_loop
from world_models import tiny_world_lm, world_demos, world_tokenizer


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


def _model(tok, seed=0):
    return tiny_world_lm(tok, hidden=64, layers=2, seed=seed)


@pytest.fixture(scope="module")
def demos():
    return world_demos(64)


@pytest.mark.slow
def test_sft_learns_and_writes_a_complete_run_directory(tok, demos, tmp_path):
    cfg = SFTConfig(steps=30, batch_size=16, lr=3e-3, warmup_steps=3, log_every=10, output_dir=str(tmp_path),
                    progress=False)
    before = score_responses(_model(tok), tok, demos["prompt"][:16], demos["completion"][:16]).mean()
    result = train_sft(cfg, model=_model(tok), tokenizer=tok, dataset=demos)
    model, history = result.model, result.history
    after = score_responses(model, tok, demos["prompt"][:16], demos["completion"][:16]).mean()
    assert after > before + 20  # summed log-prob of the demonstrations rose by a lot
    assert [h["step"] for h in history] == [10, 20, 30]
    assert history[-1]["loss"] < history[0]["loss"]
    run = result.run
    record = run.read_record()
    assert record["config"]["steps"] == 30 and record["data_version"].startswith("pd-")
    assert record["template"] == "default" and record["policy_version"].endswith("@step30")
    assert [r["step"] for r in run.read_metrics()] == [10, 20, 30]
    assert {"loss", "logps/completion", "grad_norm", "learning_rate"} <= set(run.read_metrics()[0])
    ckpt = run.path / "checkpoint"
    assert (ckpt / "model.safetensors").exists() and (ckpt / "tokenizer.json").exists()
    assert json.loads((ckpt / "trainer_state.json").read_text()) == {"step": 30}
    reloaded, _ = load_policy(ckpt)
    torch.testing.assert_close(score_responses(reloaded, tok, demos["prompt"][:4], demos["completion"][:4]),
                               score_responses(model, tok, demos["prompt"][:4], demos["completion"][:4]))
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


@pytest.mark.slow
def test_resume_after_a_crash_matches_an_uninterrupted_run(tok, demos, tmp_path, monkeypatch):
    sft_module = importlib.import_module("prefkit.train.sft")

    common = dict(steps=10, batch_size=8, lr=2e-3, warmup_steps=2, log_every=1, progress=False)
    result = train_sft(SFTConfig(output_dir=str(tmp_path / "a"), **common), model=_model(tok), tokenizer=tok,
                          dataset=demos)
    full, full_hist = result.model, result.history
    run_dir = tmp_path / "b"
    real_step, calls = sft_module.sft_step, []

    def crashing_step(model, batch):
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt  # the laptop lid closes during step 8
        return real_step(model, batch)

    monkeypatch.setattr(sft_module, "sft_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        train_sft(SFTConfig(run_dir=str(run_dir), save_every=5, **common), model=_model(tok), tokenizer=tok, dataset=demos)
    monkeypatch.setattr(sft_module, "sft_step", real_step)
    ckpt = last_checkpoint(RunDir(run_dir))
    assert json.loads((ckpt / "trainer_state.json").read_text())["step"] == 5
    assert [r["step"] for r in RunDir(run_dir).read_metrics()] == [1, 2, 3, 4, 5, 6, 7]
    # a fresh process: a differently initialized model, restored from the checkpoint
    result = train_sft(SFTConfig(run_dir=str(run_dir), resume=True, **common), model=_model(tok, seed=5),
                        tokenizer=tok, dataset=demos)
    resumed, hist = result.model, result.history
    assert [h["step"] for h in hist] == [6, 7, 8, 9, 10]
    assert [r["step"] for r in RunDir(run_dir).read_metrics()] == list(range(1, 11))
    for a, b in zip(hist, full_hist[5:]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    torch.testing.assert_close(score_responses(resumed, tok, demos["prompt"][:4], demos["completion"][:4]),
                               score_responses(full, tok, demos["prompt"][:4], demos["completion"][:4]),
                               rtol=1e-4, atol=1e-4)
    assert RunDir(run_dir).read_record()["resumed"] is True


def test_nan_loss_stops_with_step_terms_and_cause_and_keeps_a_checkpoint(tok, tmp_path):
    model = _model(tok)
    run = RunDir(tmp_path / "run")
    cfg = SFTConfig(steps=20, batch_size=4, save_every=5, progress=False)
    good = {k: v.clone() for k, v in model.state_dict().items()}

    def step_fn(m, batch):
        out = m(input_ids=batch["x"]).logits.float().mean()
        bad = batch["step"] >= 7
        loss = out * (float("nan") if bad else 1.0)
        return loss, {"logps/chosen": torch.tensor(float("-inf") if bad else -1.0)}

    with pytest.raises(TrainingDiverged) as info:
        train_loop(model, cfg, run, lambda i: {"x": torch.ones(2, 4, dtype=torch.long), "step": i}, step_fn,
                   tokenizer=tok)
    msg = str(info.value)
    assert msg.startswith("step 8: the loss is nan") and "logps/chosen" in msg and "learning rate" in msg
    assert "non-finite logps/chosen" in msg
    kept = last_checkpoint(run)
    assert kept is not None and json.loads((kept / "trainer_state.json").read_text())["step"] == 5
    assert str(kept) in msg
    del good


_HOST_READS = ("tolist", "item", "__float__", "__int__", "__bool__", "numpy")


def _count_host_reads(monkeypatch) -> list[str]:
    """Record every copy of a tensor to the host made by prefkit/train/loop.py itself (a device sync on a GPU)."""
    loop_file, calls = os.path.join("prefkit", "train", "loop.py"), []
    for name in _HOST_READS:
        def counted(self, *args, _real=getattr(torch.Tensor, name), _name=name, **kwargs):
            if sys._getframe(1).f_code.co_filename.endswith(loop_file):
                calls.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


def _logsumexp_loss(m, batch):
    return m(input_ids=batch["x"]).logits.float().logsumexp(-1).mean()


def _ones(i):
    return {"x": torch.ones(2, 4, dtype=torch.long), "i": i}


def test_metrics_reach_the_host_only_when_a_row_is_logged(tok, tmp_path, monkeypatch):
    """One host read per optimizer step (the guard's flag) and one per logged row, none per micro-batch."""
    steps, accum = 6, 2
    cfg = SFTConfig(steps=steps, batch_size=4, grad_accum=accum, lr=1e-3, log_every=3, progress=False)

    def step_fn(m, batch):
        return _logsumexp_loss(m, batch), {"micro": torch.tensor(float(batch["i"]))}

    reads = _count_host_reads(monkeypatch)
    history = train_loop(_model(tok), cfg, RunDir(tmp_path / "run"), _ones, step_fn, tokenizer=tok)
    monkeypatch.undo()
    assert [h["step"] for h in history] == [3, 6]
    # the mean over micro-batches 0-5 and 6-11, summed on the device between two rows
    assert [h["micro"] for h in history] == [2.5, 8.5]
    assert all(h["grad_norm"] > 0 and h["loss"] > 0 for h in history)
    assert len(reads) == steps + len(history), reads


def test_a_nan_loss_on_a_step_that_logs_no_row_stops_there_before_its_update(tok, tmp_path):
    common = dict(steps=20, batch_size=4, grad_accum=2, lr=1e-3, log_every=5, progress=False)

    def step_fn(m, batch):
        loss = _logsumexp_loss(m, batch)
        if batch["i"] == 13:  # the second micro-batch of step 7
            loss = loss * float("nan")
        return loss, {"logps/chosen": -loss.detach()}

    run = RunDir(tmp_path / "run")
    with pytest.raises(TrainingDiverged) as info:
        train_loop(_model(tok), SFTConfig(**common), run, _ones, step_fn, tokenizer=tok)
    msg = str(info.value)
    assert msg.startswith("step 7: the loss is nan; loss terms {'logps/chosen': nan}")
    assert [r["step"] for r in run.read_metrics()] == [5]
    kept = last_checkpoint(run)
    assert json.loads((kept / "trainer_state.json").read_text())["step"] == 6 and str(kept) in msg
    # the weights kept are those after step 6, which the NaN did not update: a run without it, saved at step 6
    def interrupted(m, batch):
        if batch["i"] == 13:
            raise KeyboardInterrupt
        return _logsumexp_loss(m, batch), {"logps/chosen": torch.tensor(0.0)}

    clean = RunDir(tmp_path / "clean")
    with pytest.raises(KeyboardInterrupt):
        train_loop(_model(tok), SFTConfig(save_every=6, **common), clean, _ones, interrupted, tokenizer=tok)
    same = last_checkpoint(clean)
    assert json.loads((same / "trainer_state.json").read_text())["step"] == 6
    a, b = load_file(str(kept / "model.safetensors")), load_file(str(same / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
