"""The one training loop every trainer uses: Accelerate for devices and precision, a progress bar, metrics
with TRL's names, atomic checkpoints, resume, and a guard that stops on NaN or inf with a readable cause.

Data parallel (DDP): launched as W processes (``accelerate launch --num_processes 2 --cpu`` or ``torchrun
--nproc_per_node 2``), every rank builds the same global micro-batch i and keeps its shard of rows
[r B/W, (r+1) B/W) (``shard_batch``); DDP averages the gradients, so with a per-example mean loss a W-process
run follows the same curve as one process with the same global batch. Logged metrics are averaged over ranks;
only the main process writes run files, checkpoints and the progress bar.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core import RunDir, atomic_write_bytes, atomic_write_json, autocast_dtype, get_device
from ..models.chat_template import template_record
from ..models.load import hf_quiet
from .recipes import apply_recipe

CHECKPOINT = "checkpoint"


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or inf; the last good checkpoint is kept."""


class BatchOrder:
    """Which examples make micro-batch ``i``: each epoch is a seeded permutation of the ``n`` examples.

    Batch ``i`` depends only on (n, batch_size, seed, i), so a resumed run sees exactly the batches an
    uninterrupted run would have seen.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        if n == 0:
            raise ValueError("no training examples")
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = self.n // self.batch_size
        self._epoch, self._order = -1, None

    def __call__(self, i: int) -> np.ndarray:
        epoch, k = divmod(i, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._order[k * self.batch_size:(k + 1) * self.batch_size]


def save_model(model, path: Path) -> None:
    """``save_pretrained`` (safetensors) without transformers' one-shard progress bar in the middle of ours.

    A LoRA model (peft) saves its adapters and their config (adapter_model.safetensors, adapter_config.json);
    ``prefkit.models.load_policy`` loads such a folder onto its base model and merges the adapters.
    """
    with hf_quiet():
        model.save_pretrained(path, safe_serialization=True)


def save_checkpoint(run: RunDir, model, tokenizer=None, optimizer=None, step: int = 0, scheduler=None) -> Path:
    """Write ``checkpoint/`` atomically: a temporary folder, then a rename over the old one."""
    final = run.path / CHECKPOINT
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=run.path))
    save_model(getattr(model, "module", model), tmp)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None}, tmp / "optimizer.pt")
    atomic_write_json(tmp / "trainer_state.json", {"step": step})
    old = run.path / ".checkpoint-old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def last_checkpoint(run: RunDir) -> Path | None:
    for name in (CHECKPOINT, ".checkpoint-old"):  # the old one survives a crash between the two renames
        path = run.path / name
        if (path / "trainer_state.json").exists():
            return path
    return None


def make_accelerator(cfg):
    """The Accelerator for ``cfg.device``: bf16 autocast on capable GPUs, fp32 elsewhere; DDP when launched so."""
    from accelerate import Accelerator

    device = get_device(cfg.device)
    precision = "bf16" if autocast_dtype(device) == torch.bfloat16 else "no"
    return Accelerator(cpu=device.type == "cpu", mixed_precision=precision)


def shard_batch(batch: dict, rank: int, world: int) -> dict:
    """Rank ``rank``'s rows of a global batch: every tensor is split along dim 0 into ``world`` equal parts."""
    if world == 1:
        return batch
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v) and v.dim() > 0:
            if v.shape[0] % world:
                raise ValueError(f"batch field {k!r} has {v.shape[0]} rows, which {world} processes cannot share "
                                 f"equally; make the micro-batch (batch_size / grad_accum) a multiple of {world}")
            n = v.shape[0] // world
            v = v[rank * n:(rank + 1) * n]
        out[k] = v
    return out


def create_run_dir(cfg, name: str, accelerator=None) -> RunDir:
    """``cfg.run_dir``, or a fresh run directory under ``cfg.output_dir`` that every rank agrees on."""
    if cfg.run_dir:
        return RunDir(cfg.run_dir)
    if accelerator is None or accelerator.num_processes == 1:
        return RunDir.create(cfg.output_dir, name)
    from accelerate.utils import broadcast_object_list

    path = [str(RunDir.create(cfg.output_dir, name).path) if accelerator.is_main_process else None]
    broadcast_object_list(path, from_process=0)
    return RunDir(path[0])


def model_name(model, fallback: str) -> str:
    """What a run record calls a model: the folder or hub name it was loaded from, else ``fallback``."""
    return getattr(model.config, "_name_or_path", None) or fallback


def start_run(cfg, name: str, accelerator=None, tokenizer=None, **record):
    """``(accelerator, run)`` for a trainer: the Accelerator, the run directory every rank agrees on, and run.json.

    A resumed run keeps its record and is marked ``resumed``; otherwise run.json gets the config, seed, device,
    world size and ``record`` (data version, template, reference, ...). With the ``tokenizer`` it also gets
    ``chat_template``: the template's name, Jinja text and SHA-256. Only the main process writes.
    """
    if tokenizer is not None and "template" in record:
        record["chat_template"] = template_record(tokenizer, record["template"])
    accelerator = accelerator or make_accelerator(cfg)
    run = create_run_dir(cfg, name, accelerator)
    if accelerator.is_main_process:
        if cfg.resume and run.record_path.exists():
            run.update_record(resumed=True)
        else:
            run.write_record(config=cfg, seed=cfg.seed, device=str(accelerator.device),
                             world_size=accelerator.num_processes, **record)
    return accelerator, run


def _lr_lambda(cfg) -> Callable[[int], float]:
    def f(step: int) -> float:
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        decay = max(0.0, 1 - step / cfg.steps) if cfg.decay else 1.0
        return warm * decay
    return f


def _progress(cfg, total: int, initial: int, desc: str, enabled: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not (cfg.progress and enabled), dynamic_ncols=True,
                mininterval=0.5, leave=True)


def train_loop(model, cfg, run: RunDir, next_batch: Callable[[int], dict], step_fn: Callable, *,
               tokenizer=None, desc: str = "train", main_metric: str | None = None,
               accelerator=None) -> list[dict]:
    """Run ``cfg.steps`` optimizer steps and return the logged metric rows.

    next_batch(micro_step) -> the GLOBAL batch for one micro-batch (tensors on CPU, example dimension first;
        moved to the device here). Under DDP each rank keeps its ``shard_batch`` rows.
    step_fn(model, batch) -> (loss, metrics): ``loss`` a scalar tensor, ``metrics`` a dict of scalar tensors
    named as TRL names them (``rewards/chosen``, ``logps/rejected``, ...). Metrics are averaged over ranks and
    over the steps between two log rows.
    """
    accelerator = accelerator or make_accelerator(cfg)
    rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    if cfg.lr is None:  # the trainers fill it in first; a direct call gets the same recipe
        cfg = apply_recipe(cfg, model)[0]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    start = 0
    ckpt = last_checkpoint(run) if cfg.resume else None
    if ckpt is not None:
        start = _restore(ckpt, model, optimizer, scheduler)
        if main:
            kept = [r for r in run.read_metrics() if r.get("step", 0) <= start]  # rows after the checkpoint are redone
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write_bytes(run.metrics_path, text.encode("utf-8"))
    model, optimizer = accelerator.prepare(model, optimizer)
    kept_optimizer = optimizer if cfg.keeps_optimizer() else None  # optimizer.pt only where a resume needs it
    model.train()
    history, sums, count = [], {}, 0
    bar = _progress(cfg, cfg.steps, start, desc, enabled=main)
    t0 = time.perf_counter()
    try:
        for step in range(start, cfg.steps):
            optimizer.zero_grad(set_to_none=True)
            step_metrics = {}
            for micro in range(cfg.grad_accum):
                batch = shard_batch(next_batch(step * cfg.grad_accum + micro), rank, world)
                batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
                # gradients are all-reduced once per optimizer step, on the last micro-batch
                sync = accelerator.no_sync(model) if micro < cfg.grad_accum - 1 else contextlib.nullcontext()
                with sync:
                    with accelerator.autocast():
                        loss, metrics = step_fn(model, batch)
                    values = _rank_mean({"loss": loss, **metrics}, accelerator)
                    if not math.isfinite(values["loss"]):  # on any rank: every rank stops at the same step
                        terms = {k: v for k, v in values.items() if k != "loss"}
                        _diverged(run, model, tokenizer, step, values["loss"], terms, cfg, main)
                    accelerator.backward(loss / cfg.grad_accum)
                for k, v in values.items():
                    step_metrics[k] = step_metrics.get(k, 0.0) + v / cfg.grad_accum
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm) if cfg.max_grad_norm else None
            if grad_norm is not None and not torch.isfinite(torch.as_tensor(grad_norm)):
                _diverged(run, model, tokenizer, step, float("nan"), {"grad_norm": grad_norm}, cfg, main)
            optimizer.step()
            scheduler.step()
            if grad_norm is not None:
                step_metrics["grad_norm"] = float(grad_norm)
            for k, v in step_metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            bar.update(1)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                row = {k: v / count for k, v in sums.items()}
                row.update(learning_rate=scheduler.get_last_lr()[0], elapsed_s=round(time.perf_counter() - t0, 2))
                if main:
                    run.log(step=done, **row)
                history.append({"step": done, **row})
                shown = {"loss": f"{row['loss']:.4f}"}
                if main_metric and main_metric in row:
                    shown[main_metric.split("/")[-1]] = f"{row[main_metric]:.3f}"
                bar.set_postfix(shown, refresh=False)
                sums, count = {}, 0
            if cfg.save_every and done % cfg.save_every == 0 and done < cfg.steps and main:
                save_checkpoint(run, accelerator.unwrap_model(model), tokenizer, kept_optimizer, done, scheduler)
    finally:
        bar.close()
    model = accelerator.unwrap_model(model)
    if main:
        save_checkpoint(run, model, tokenizer, kept_optimizer, cfg.steps, scheduler)
    accelerator.wait_for_everyone()
    return history


def _rank_mean(metrics: dict, accelerator) -> dict[str, float]:
    """Scalar metrics as floats, averaged over ranks with one all-reduce (ranks hold equal shards)."""
    names = list(metrics)
    values = torch.stack([metrics[k].detach().float().reshape(()) for k in names])      # (M,)
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values.to(accelerator.device), reduction="mean")
    return dict(zip(names, values.tolist()))


def _restore(ckpt: Path, model, optimizer, scheduler) -> int:
    from safetensors.torch import load_file

    if (ckpt / "adapter_model.safetensors").exists():  # a LoRA run: restore the adapters onto the base model
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(ckpt / "adapter_model.safetensors"))
        if result.unexpected_keys:
            raise RuntimeError(f"checkpoint {ckpt} does not match the LoRA model (unexpected {result.unexpected_keys})")
        return _restore_optimizer(ckpt, optimizer, scheduler)
    state = load_file(ckpt / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "lm_head" not in m]:  # a tied lm_head is not saved separately
        raise RuntimeError(f"checkpoint {ckpt} does not match the model (missing {missing}, unexpected {unexpected})")
    return _restore_optimizer(ckpt, optimizer, scheduler)


def _restore_optimizer(ckpt: Path, optimizer, scheduler) -> int:
    opt = ckpt / "optimizer.pt"
    if not opt.exists():
        warnings.warn(f"{ckpt} has no optimizer.pt (it was saved with save_optimizer off): the weights resume, "
                      "AdamW's moments and the learning-rate schedule start afresh; save_every > 0 or "
                      "save_optimizer=True keeps them for an exact resume")
    else:
        saved = torch.load(opt, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        if saved.get("scheduler"):
            scheduler.load_state_dict(saved["scheduler"])
    return json.loads((ckpt / "trainer_state.json").read_text())["step"]


def _diverged(run: RunDir, model, tokenizer, step: int, loss, metrics: dict, cfg, main: bool = True) -> None:
    terms = {k: (float(v) if torch.is_tensor(v) and v.numel() == 1 else v) for k, v in metrics.items()}
    kept = last_checkpoint(run)
    if kept is None and main:  # nothing saved yet: the weights have not been updated with a bad step, keep them
        kept = save_checkpoint(run, model, tokenizer, None, step)
    bad = [k for k, v in terms.items() if isinstance(v, float) and not math.isfinite(v)]
    raise TrainingDiverged(
        f"step {step + 1}: the loss is {float(loss)}; loss terms {terms}. "
        f"Likely cause: {'non-finite ' + ', '.join(bad) if bad else 'a non-finite gradient'} - a learning rate too "
        f"high for this model (lr={cfg.lr}), or a log-probability of -inf (a response token the model gives "
        f"probability 0). The last good checkpoint is kept at {kept}.")
