"""Checkpoints of a run directory: written durably, replaced atomically, never with a non-finite weight.

A checkpoint is the folder ``checkpoint/``: the model (safetensors), the tokenizer, ``optimizer.pt`` (optimizer,
scheduler and torch RNG state) and ``trainer_state.json`` ({"step": n}, written last). Replacing one:

    1. write everything into ``.checkpoint-tmp-*`` and fsync it
    2. rename ``checkpoint`` -> ``.checkpoint-old``      3. rename the new folder -> ``checkpoint``
    4. remove ``.checkpoint-old``

A crash at any point leaves a complete checkpoint: before 2 the old ``checkpoint``; between 2 and 3 only
``.checkpoint-old`` (``recover_checkpoints`` moves it back); after 3 the new one. A leftover temporary folder
is an interrupted write and is removed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from ..core import RunDir, atomic_write_json
from ..core_rundir import fsync_dir, fsync_tree
from ..models.load import hf_quiet

CHECKPOINT = "checkpoint"
OLD = ".checkpoint-old"
TMP_PREFIX = ".checkpoint-tmp-"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written (non-finite weights) or read back (damaged); says how to recover."""


def non_finite(model) -> list[str]:
    """Names of the floating-point weights of ``model`` that hold a NaN or an inf."""
    named = [(n, p) for n, p in model.state_dict().items() if torch.is_tensor(p) and p.is_floating_point()]
    if not named:
        return []
    ok = torch.stack([torch.isfinite(p).all() for _, p in named])                                  # (P,)
    return [] if bool(ok.all()) else [n for (n, _), good in zip(named, ok.tolist()) if not good]


def save_model(model, path: Path) -> None:
    """``save_pretrained`` (safetensors) without transformers' one-shard progress bar in the middle of ours.

    A LoRA model (peft) saves its adapters and their config (adapter_model.safetensors, adapter_config.json);
    ``prefkit.models.load_policy`` loads such a folder onto its base model and merges the adapters.
    """
    with hf_quiet():
        model.save_pretrained(path, safe_serialization=True)


def recover_checkpoints(run: RunDir) -> Path | None:
    """Finish or undo an interrupted checkpoint replacement; returns the complete checkpoint, if any."""
    final, old = run.path / CHECKPOINT, run.path / OLD
    for leftover in run.path.glob(".checkpoint-*"):
        if leftover.name != OLD:  # a temporary folder: the write it belongs to never finished
            shutil.rmtree(leftover, ignore_errors=True)
    if old.exists():
        if (final / "trainer_state.json").exists():
            shutil.rmtree(old, ignore_errors=True)   # crashed while removing the old one
        else:
            if final.exists():
                shutil.rmtree(final)
            os.replace(old, final)                   # crashed between the two renames: the old one is complete
        fsync_dir(run.path)
    return final if (final / "trainer_state.json").exists() else None


def save_checkpoint(run: RunDir, model, tokenizer=None, optimizer=None, step: int = 0, scheduler=None) -> Path:
    """Write ``checkpoint/`` durably and atomically (see the module docstring); refuses non-finite weights."""
    model = getattr(model, "module", model)
    bad = non_finite(model)
    if bad:
        raise CheckpointError(f"refusing to write a checkpoint at step {step}: {len(bad)} weight tensor(s) hold NaN "
                              f"or inf (first: {bad[0]}); the last finite checkpoint in {run.path} is kept")
    recover_checkpoints(run)
    final, old = run.path / CHECKPOINT, run.path / OLD
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=run.path))
    try:
        save_model(model, tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None},
                       tmp / "optimizer.pt")
        atomic_write_json(tmp / "trainer_state.json", {"step": step})  # last: it marks the folder complete
        fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(run.path)
    shutil.rmtree(old, ignore_errors=True)
    return final


def last_checkpoint(run: RunDir) -> Path | None:
    """The newest complete checkpoint of ``run`` (``.checkpoint-old`` after a crash between the two renames)."""
    for name in (CHECKPOINT, OLD):
        path = run.path / name
        if (path / "trainer_state.json").exists():
            return path
    return None


def _damaged(file: Path, exc: BaseException) -> CheckpointError:
    ckpt = file.parent
    return CheckpointError(
        f"{file}: the checkpoint file is damaged or incomplete ({type(exc).__name__}: {exc}). To recover: delete "
        f"{ckpt} and run again with --resume to restart this run from step 0 in {ckpt.parent}, or start a new run "
        f"without --run-dir; the run's earlier metrics stay in {ckpt.parent / 'metrics.jsonl'}")


def restore(ckpt: Path, model, optimizer, scheduler) -> int:
    """Load a checkpoint into the model, optimizer and scheduler; returns its step."""
    from safetensors.torch import load_file

    state_file = ckpt / "trainer_state.json"
    try:
        step = json.loads(state_file.read_text())["step"]
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step {step!r} is not a step count")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(state_file, exc) from exc
    if (ckpt / "adapter_model.safetensors").exists():  # a LoRA run: restore the adapters onto the base model
        from peft import set_peft_model_state_dict

        file = ckpt / "adapter_model.safetensors"
        try:
            state = load_file(file)
        except Exception as exc:  # safetensors raises its own error type for a truncated or garbled file
            raise _damaged(file, exc) from exc
        result = set_peft_model_state_dict(model, state)
        if result.unexpected_keys:
            raise CheckpointError(f"checkpoint {ckpt} does not match the LoRA model (unexpected "
                                  f"{result.unexpected_keys}); resume with the flags the run was started with")
    else:
        file = ckpt / "model.safetensors"
        try:
            state = load_file(file)
        except Exception as exc:
            raise _damaged(file, exc) from exc
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if "lm_head" not in m]:  # a tied lm_head is not saved separately
            raise CheckpointError(f"checkpoint {ckpt} does not match the model (missing {missing}, unexpected "
                                  f"{unexpected}); resume with the --model the run was started with")
    opt = ckpt / "optimizer.pt"
    if not opt.exists():
        warnings.warn(f"{ckpt} has no optimizer.pt (it was saved with save_optimizer off): the weights resume, "
                      "AdamW's moments and the learning-rate schedule start afresh; save_every > 0 or "
                      "save_optimizer=True keeps them for an exact resume")
    else:
        try:
            saved = torch.load(opt, weights_only=True)
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["torch_rng"])
            if saved.get("scheduler"):
                scheduler.load_state_dict(saved["scheduler"])
        except Exception as exc:  # torch.load raises several types for a truncated or garbled file
            raise _damaged(opt, exc) from exc
    return step


__all__ = ["CHECKPOINT", "CheckpointError", "save_model", "save_checkpoint", "last_checkpoint",
           "recover_checkpoints", "restore", "non_finite"]
