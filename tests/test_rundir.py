"""Run directories are owned, checkpoints survive crashes and damage, and a diverging run keeps finite weights."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prefkit.cli import main
from prefkit.core import RunDir
from prefkit.core_rundir import RunDirError, acquire, release
from prefkit.train import SFTConfig, TrainingDiverged, train_sft
from prefkit.train import checkpoint as ckpt_module
from prefkit.train.checkpoint import CheckpointError, last_checkpoint, save_checkpoint
from prefkit.train.loop import train_loop
from prefkit.train.validate import ConfigError
from world_models import tiny_world_lm, world_demos, world_tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


def _model(tok, seed=0):
    return tiny_world_lm(tok, hidden=32, layers=1, seed=seed)


@pytest.fixture(scope="module")
def demos():
    return world_demos(32)


def _cfg(run_dir, **kw):
    return SFTConfig(**{**dict(run_dir=str(run_dir), steps=4, batch_size=4, lr=1e-3, warmup_steps=0, log_every=1,
                               progress=False, eval_samples_per_prompt=0), **kw})


def _all_weights_finite(root: Path) -> int:
    """Assert that every safetensors file under ``root`` holds only finite values; returns how many there are."""
    files = sorted(root.rglob("*.safetensors"))
    for f in files:
        for name, t in load_file(f).items():
            assert torch.isfinite(t).all(), f"{f}: {name} is not finite"
    return len(files)


# -------------------------------------------------------------------------------------------- ownership
def test_a_second_trainer_on_a_locked_directory_fails_at_once(tok, demos, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from prefkit.core_rundir import acquire; acquire(sys.argv[1]); "
                               "print('locked', flush=True); sys.stdin.read()", str(run_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        with pytest.raises(RunDirError, match=rf"{run_dir} is in use by pid {holder.pid} on .*still writing it"):
            train_sft(_cfg(run_dir), model=_model(tok), tokenizer=tok, dataset=demos)
        assert time.perf_counter() - t0 < 10  # at once, no waiting for the other run
        assert not (run_dir / "run.json").exists() and not (run_dir / "metrics.jsonl").exists()
        assert main(["sft", "--run-dir", str(run_dir), "--steps", "1", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"prefkit sft: error: {run_dir} is in use by pid {holder.pid}") and "\n" not in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the holder has exited: the operating system released its lock
    history = train_sft(_cfg(run_dir), model=_model(tok), tokenizer=tok, dataset=demos).history
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    assert not (run_dir / "run.lock").exists()  # released and removed when the loop ended


def test_the_lock_is_held_while_the_run_writes(tok, demos, tmp_path, monkeypatch):
    sft_module = __import__("importlib").import_module("prefkit.train.sft")
    real, seen = sft_module.sft_step, []

    def step(model, batch):
        probe = subprocess.run([sys.executable, "-c", "import sys; from prefkit.core_rundir import acquire; "
                                "acquire(sys.argv[1])", str(tmp_path / "run")], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
        seen.append((probe.returncode, probe.stderr))
        return real(model, batch)

    monkeypatch.setattr(sft_module, "sft_step", step)
    train_sft(_cfg(tmp_path / "run", steps=1), model=_model(tok), tokenizer=tok, dataset=demos)
    assert seen and seen[0][0] != 0 and "RunDirError" in seen[0][1] and "is in use by" in seen[0][1]


def test_a_finished_directory_is_never_reused_without_resume(tok, demos, tmp_path):
    run_dir = tmp_path / "run"
    train_sft(_cfg(run_dir), model=_model(tok), tokenizer=tok, dataset=demos)
    record, metrics = (run_dir / "run.json").read_text(), (run_dir / "metrics.jsonl").read_text()
    weights = (run_dir / "checkpoint" / "model.safetensors").read_bytes()
    assert json.loads(record)["status"] == "finished"
    with pytest.raises(RunDirError, match=r"already holds a run \(finished, last checkpoint at step 4\); pass "
                                          r"--resume to continue it"):
        train_sft(_cfg(run_dir, lr=5e-3), model=_model(tok, seed=1), tokenizer=tok, dataset=demos)
    assert (run_dir / "run.json").read_text() == record and (run_dir / "metrics.jsonl").read_text() == metrics
    assert (run_dir / "checkpoint" / "model.safetensors").read_bytes() == weights


def test_resume_must_match_the_recorded_config_and_records_bookkeeping_changes(tok, demos, tmp_path):
    run_dir = tmp_path / "run"
    train_sft(_cfg(run_dir, save_every=2), model=_model(tok), tokenizer=tok, dataset=demos)
    with pytest.raises(ConfigError, match=r"the config differs from the one the run was started with \(--batch-size "
                                          r"was 4, now 8; --lr was 0.001, now 0.005\)"):
        train_sft(_cfg(run_dir, resume=True, lr=5e-3, batch_size=8), model=_model(tok), tokenizer=tok, dataset=demos)
    other = demos.select(range(16))
    with pytest.raises(ConfigError, match="the training data changed since the run started"):
        train_sft(_cfg(run_dir, resume=True, save_every=2), model=_model(tok), tokenizer=tok, dataset=other)
    train_sft(_cfg(run_dir, resume=True, progress=True, save_every=0), model=_model(tok), tokenizer=tok, dataset=demos)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["resumed"] is True and record["status"] == "finished"
    assert record["config"]["save_every"] == 2  # the record keeps the config the run was started with ...
    assert record["resumes"][-1]["changed"] == {"progress": [False, True], "save_every": [2, 0]}  # ... and the changes


# ----------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_files_are_fsynced_before_the_rename(tok, tmp_path, monkeypatch):
    run, events = RunDir(tmp_path / "run"), []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(a), str(b))) or real_replace(a, b))
    final = save_checkpoint(run, _model(tok), tok, None, step=3)
    rename = next(i for i, e in enumerate(events) if e[0] == "replace" and e[2] == str(final))
    synced = {Path(e[1]).name for e in events[:rename] if e[0] == "fsync"}
    assert {p.name for p in final.iterdir()} <= synced  # every file of the checkpoint, before it is renamed in
    assert any(e[0] == "fsync" and e[1] == str(run.path) for e in events[rename:])  # and the rename itself


@pytest.mark.parametrize("crash_at", [1, 2, "rmtree"])
def test_a_crash_while_replacing_a_checkpoint_never_blocks_a_resume(tok, demos, tmp_path, monkeypatch, crash_at):
    """Kill the replacement of step 2's checkpoint by step 4's at each point; the next run resumes and saves."""
    run_dir = tmp_path / "run"
    train_sft(_cfg(run_dir, steps=2), model=_model(tok), tokenizer=tok, dataset=demos)
    run = RunDir(run_dir)
    calls = []

    def crash(*args, **kwargs):
        calls.append(args)
        if len(calls) == crash_at:
            raise KeyboardInterrupt
        return real_replace(*args, **kwargs)

    real_replace = os.replace
    if crash_at == "rmtree":
        monkeypatch.setattr(ckpt_module.shutil, "rmtree", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    else:
        monkeypatch.setattr(ckpt_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(run, _model(tok, seed=3), tok, None, step=4)
    monkeypatch.undo()
    kept = last_checkpoint(run)
    step = json.loads((kept / "trainer_state.json").read_text())["step"]
    assert step == (2 if crash_at in (1, 2) else 4)  # a complete checkpoint, old or new, whatever the moment
    train_sft(_cfg(run_dir, steps=2, resume=True), model=_model(tok, seed=9), tokenizer=tok, dataset=demos)  # no OSError
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []  # leftovers cleaned up
    assert json.loads((run_dir / "checkpoint" / "trainer_state.json").read_text())["step"] == 2


def test_a_leftover_temporary_checkpoint_is_removed(tok, tmp_path):
    run = RunDir(tmp_path / "run")
    partial = run.path / ".checkpoint-tmp-abc123"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")
    save_checkpoint(run, _model(tok), tok, None, step=1)
    assert not partial.exists() and last_checkpoint(run) == run.path / "checkpoint"


@pytest.mark.parametrize("damage", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_damaged_checkpoint_names_the_file_and_how_to_recover(tok, demos, tmp_path, capsys, damage):
    run_dir = tmp_path / "run"
    train_sft(_cfg(run_dir, steps=4, save_every=2), model=_model(tok), tokenizer=tok, dataset=demos)
    file = run_dir / "checkpoint" / damage
    file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])  # a disk that filled up mid-write
    with pytest.raises(CheckpointError) as info:
        train_sft(_cfg(run_dir, steps=4, save_every=2, resume=True), model=_model(tok), tokenizer=tok, dataset=demos)
    msg = str(info.value)
    assert msg.startswith(f"{file}: the checkpoint file is damaged or incomplete")
    assert f"delete {run_dir / 'checkpoint'} and run again with --resume" in msg


def test_recovery_from_a_damaged_checkpoint_as_the_message_says(tok, demos, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    train_sft(_cfg(run_dir, steps=4, save_every=2), model=_model(tok), tokenizer=tok, dataset=demos)
    (run_dir / "checkpoint" / "model.safetensors").write_bytes(b"\0" * 100)
    shutil.rmtree(run_dir / "checkpoint")  # what the message says to do
    history = train_sft(_cfg(run_dir, steps=4, save_every=2, resume=True), model=_model(tok), tokenizer=tok,
                     dataset=demos).history
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    assert [r["step"] for r in RunDir(run_dir).read_metrics()] == [1, 2, 3, 4]  # no rows counted twice


# ------------------------------------------------------------------------------------------ divergence
def test_save_checkpoint_refuses_non_finite_weights(tok, tmp_path):
    model = _model(tok)
    with torch.no_grad():
        next(model.parameters())[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"refusing to write a checkpoint at step 3: \d weight tensor"):
        save_checkpoint(RunDir(tmp_path / "run"), model, tok, None, step=3)
    assert last_checkpoint(RunDir(tmp_path / "run")) is None


def _finite_loss(m, batch):
    return m(input_ids=batch["x"]).logits.float().logsumexp(-1).mean(), {}


def _batch(i):
    return {"x": torch.ones(2, 4, dtype=torch.long), "step": i}


def test_an_update_that_overflows_stops_at_once_and_writes_no_non_finite_checkpoint(tok, tmp_path, monkeypatch):
    """An optimizer step that leaves an inf in a weight (finite loss, finite gradients) stops the run there."""
    real = torch.optim.AdamW.step

    def overflowing(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][1].view(-1)[0] = float("inf")
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", overflowing)
    run = RunDir(tmp_path / "run")
    cfg = SFTConfig(steps=5, batch_size=2, lr=1e3, warmup_steps=0, max_grad_norm=0, progress=False)
    with pytest.raises(TrainingDiverged) as info:
        train_loop(_model(tok), cfg, run, _batch, _finite_loss, tokenizer=tok)
    msg = str(info.value)
    assert msg.startswith("step 1: the updated weights are non-finite in 1 of ")
    assert "the update overflowed - a learning rate too high for this model (--lr 1000.0)" in msg
    assert "gradients are not clipped (--max-grad-norm 0)" in msg and "No checkpoint is kept" in msg
    assert last_checkpoint(run) is None and _all_weights_finite(run.path) == 0


def test_a_non_finite_gradient_with_a_finite_loss_stops_and_keeps_the_weights_before_it(tok, tmp_path):
    """d sqrt(x)/dx at 0 is inf: 0 * sqrt(0) adds nothing to the loss and NaN to every gradient (no clipping)."""
    run = RunDir(tmp_path / "run")
    cfg = SFTConfig(steps=6, batch_size=2, lr=1e-3, warmup_steps=0, max_grad_norm=0, progress=False)

    def step_fn(m, batch):
        loss, _ = _finite_loss(m, batch)
        if batch["step"] == 2:
            w = next(m.parameters())
            loss = loss + 0.0 * torch.sqrt(w - w.detach()).sum()
        return loss, {"logps/chosen": -loss.detach()}

    with pytest.raises(TrainingDiverged) as info:
        train_loop(_model(tok), cfg, run, _batch, step_fn, tokenizer=tok)
    msg = str(info.value)
    assert msg.startswith("step 3: the gradient norm is nan; loss terms {'loss': ") and "logps/chosen" in msg
    assert "Likely cause: a non-finite gradient" in msg
    kept = last_checkpoint(run)
    assert json.loads((kept / "trainer_state.json").read_text())["step"] == 2 and str(kept) in msg
    assert _all_weights_finite(run.path) == 1


def test_huge_lr_without_clipping_on_the_command_line_exits_1_and_keeps_only_finite_weights(tmp_path, capsys):
    data = tmp_path / "demos.jsonl"
    data.write_text("".join(json.dumps({"prompt": "how do i bake bread ?", "completion": c}) + "\n"
                            for c in ["sure . first mix the flour and water .", "sorry , i can not help ."] * 4))
    out_dir = tmp_path / "runs"
    code = main(["sft", "--data", str(data), "--lr", "1e3", "--max-grad-norm", "0", "--warmup-steps", "0",
                 "--steps", "6", "--save-every", "1", "--batch-size", "4", "--output-dir", str(out_dir),
                 "--no-progress", "--eval-samples-per-prompt", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("prefkit sft: error: step ") and "\n" not in err
    assert "--lr 1000.0" in err and "The last finite checkpoint" in err
    (run_dir,) = out_dir.iterdir()
    assert _all_weights_finite(run_dir) == 1
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "diverged" and record["diverged"]["step"] >= 2


def test_lock_release_is_idempotent_and_reacquire_in_one_process_takes_over(tmp_path):
    acquire(tmp_path)
    acquire(tmp_path)  # a notebook re-running a cell
    release(tmp_path)
    release(tmp_path)
    assert not (tmp_path / "run.lock").exists()


def test_a_failing_command_never_removes_a_directory_an_earlier_run_in_the_process_created(tmp_path, capsys):
    """An earlier run (a notebook cell, a test) created and released its directory; a later command that fails must
    leave that directory alone: only the failing command's own unstarted directory is removed."""
    earlier = tmp_path / "earlier-run"
    earlier.mkdir()
    acquire(earlier, created=True)
    release(earlier)
    assert main(["sft", "--steps", "0", "--output-dir", str(tmp_path / "runs")]) == 2
    assert earlier.is_dir(), capsys.readouterr().err
    assert "removed" not in capsys.readouterr().err
