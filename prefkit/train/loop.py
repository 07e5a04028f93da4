"""The one training loop every trainer uses: Accelerate for devices and precision, a progress bar, metrics
with TRL's names, atomic checkpoints, resume, and a guard that stops on NaN or inf with a readable cause.

The divergence guard checks, at every optimizer step, the loss of each micro-batch, the gradient norm and the
updated weights. The first non-finite value stops the run (``TrainingDiverged``) with the step, the loss terms
and the likely cause; the checkpoint kept is the last one whose weights are all finite (a checkpoint is never
written with a NaN or inf weight: ``checkpoint.save_checkpoint``).

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
import time
from typing import Callable

import numpy as np
import torch

from ..core import RunDir, atomic_write_bytes
from ..core_rundir import release
from .checkpoint import CHECKPOINT, CheckpointError, last_checkpoint, non_finite, restore, save_checkpoint, save_model
from .recipes import apply_recipe
from .start import create_run_dir, make_accelerator, model_name, start_run

__all__ = ["TrainingDiverged", "BatchOrder", "shard_batch", "train_loop", "CHECKPOINT", "CheckpointError",
           "last_checkpoint", "save_checkpoint", "save_model", "create_run_dir", "make_accelerator", "model_name",
           "start_run"]


class TrainingDiverged(RuntimeError):
    """The loss, a gradient or an updated weight became NaN or inf; the last finite checkpoint is kept."""


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
    try:
        return _train(model, cfg, run, next_batch, step_fn, tokenizer, desc, main_metric, accelerator)
    finally:
        if accelerator.is_main_process:
            release(run.path)  # the run directory's lock, taken by start_run


def _train(model, cfg, run, next_batch, step_fn, tokenizer, desc, main_metric, accelerator) -> list[dict]:
    rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    if cfg.lr is None:  # the trainers fill it in first; a direct call gets the same recipe
        cfg = apply_recipe(cfg, model)[0]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    start = 0
    ckpt = last_checkpoint(run) if cfg.resume else None
    if ckpt is not None:
        start = restore(ckpt, model, optimizer, scheduler)
    if cfg.resume and main and run.metrics_path.exists():
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
                        _diverged(run, model, tokenizer, step, "loss", values["loss"], terms, cfg, main)
                    accelerator.backward(loss / cfg.grad_accum)
                for k, v in values.items():
                    step_metrics[k] = step_metrics.get(k, 0.0) + v / cfg.grad_accum
            # the gradients are the same on every rank after DDP's all-reduce, so every rank stops together
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm) if cfg.max_grad_norm else None
            norm = float(grad_norm) if grad_norm is not None else _grad_norm(params)
            if not math.isfinite(norm):
                _diverged(run, model, tokenizer, step, "gradient norm", norm, step_metrics, cfg, main)
            optimizer.step()
            scheduler.step()
            bad = _non_finite_params(named)
            if bad:
                _diverged(run, model, tokenizer, step, "updated weights", f"non-finite in {len(bad)} of {len(named)} "
                          f"tensors (first: {bad[0]})", step_metrics, cfg, main, weights_finite=False)
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
        if run.record_path.exists():
            run.update_record(status="finished")
    accelerator.wait_for_everyone()
    return history


def _grad_norm(params) -> float:
    """The global L2 norm of the gradients (what clipping would measure), without changing them."""
    grads = [p.grad for p in params if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


def _non_finite_params(named) -> list[str]:
    """Names of the trained parameters that hold a NaN or an inf (one device sync per call)."""
    ok = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])                        # (P,)
    return [] if bool(ok.all()) else [n for (n, _), good in zip(named, ok.tolist()) if not good]


def _rank_mean(metrics: dict, accelerator) -> dict[str, float]:
    """Scalar metrics as floats, averaged over ranks with one all-reduce (ranks hold equal shards)."""
    names = list(metrics)
    values = torch.stack([metrics[k].detach().float().reshape(()) for k in names])      # (M,)
    if accelerator.num_processes > 1:
        values = accelerator.reduce(values.to(accelerator.device), reduction="mean")
    return dict(zip(names, values.tolist()))




def _cause(what: str, terms: dict, cfg) -> str:
    bad = [k for k, v in terms.items() if isinstance(v, float) and not math.isfinite(v)]
    lr = f"a learning rate too high for this model (--lr {cfg.lr})"
    clip = "; gradients are not clipped (--max-grad-norm 0)" if not cfg.max_grad_norm else ""
    if what == "loss":
        if bad:
            return (f"non-finite {', '.join(bad)} - a log-probability of -inf (a response token the model gives "
                    f"probability 0), or {lr}")
        return f"{lr}{clip}, or a log-probability of -inf (a response token the model gives probability 0)"
    if what == "gradient norm":
        return f"a non-finite gradient - {lr}{clip}, or a loss term that overflows"
    return f"the update overflowed - {lr}{clip}"


def _diverged(run: RunDir, model, tokenizer, step: int, what: str, value, metrics: dict, cfg, main: bool = True,
              weights_finite: bool = True) -> None:
    """Stop the run: keep the last finite checkpoint (the current weights when none was saved and they are
    finite: the bad step has not updated them), record the divergence and raise ``TrainingDiverged``."""
    terms = {k: (float(v) if torch.is_tensor(v) and v.numel() == 1 else v) for k, v in metrics.items()}
    kept = last_checkpoint(run)
    if kept is None and main and weights_finite and not non_finite(getattr(model, "module", model)):
        kept = save_checkpoint(run, model, tokenizer, None, step)
    if kept is not None:
        kept_step = json.loads((kept / "trainer_state.json").read_text())["step"]
        keep = (f"The last finite checkpoint (step {kept_step}) is kept at {kept}; start a new run with a lower --lr "
                f"(--model {kept} continues from those weights)")
    else:
        keep = "No checkpoint is kept (no update ever gave finite weights); start a new run with a lower --lr"
    if main and run.record_path.exists():
        run.update_record(status="diverged", diverged={"step": step + 1, "what": what, "value": str(value),
                                                       "terms": terms, "checkpoint": str(kept) if kept else None})
    verb = "are" if what.endswith("weights") else "is"
    shown = {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in terms.items()}  # run.json keeps all digits
    raise TrainingDiverged(f"step {step + 1}: the {what} {verb} {value}; loss terms {shown}. "
                           f"Likely cause: {_cause(what, terms, cfg)}. {keep}.")
