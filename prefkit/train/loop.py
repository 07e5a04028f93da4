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

Host reads. On a GPU every copy of a value to the host (``.tolist()``, ``.item()``, ``float()``, ``bool()``)
waits for the device to finish its queued work, so the loop keeps the metrics on the device: each micro-batch's
loss and metrics are stacked into one tensor, summed there over the micro-batches and the steps of a row, and
copied to the host (after one all-reduce over ranks) only when a row is logged. All copies go through
``_to_host``; the ones that remain:

- the guard, once per optimizer step, before the update: one flag, "are the previous update's weights, the loss
  of every micro-batch and the gradient norm all finite?" (under DDP the losses are summed over ranks first, so
  every rank reads the same flag and stops at the same step). The update must not run on a non-finite loss or
  gradient (the weights before it are the ones kept), so this read cannot wait for a logged row. The values
  themselves, and which parameter holds a NaN, are read only when the flag is False;
- the weights of an update are checked in the read after it: the next step's guard, or the row or the checkpoint
  of this step, whichever comes first; a stop there names the update's step and its loss terms. The next step's
  micro-batches run before that read; an error they raise (sampling from a NaN policy) is reported as the
  divergence of the update when its weights are not finite;
- one read of the metric sums (and the weights flag) per logged row;
- what saving a checkpoint copies, and the details of a stop.
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
    named as TRL names them (``rewards/chosen``, ``logps/rejected``, ...), the same names at every micro-batch.
    Metrics are averaged over ranks and over the steps between two log rows.
    """
    accelerator = accelerator or make_accelerator(cfg)
    try:
        return _train(model, cfg, run, next_batch, step_fn, tokenizer, desc, main_metric, accelerator)
    finally:
        if accelerator.is_main_process:
            release(run.path)  # the run directory's lock, taken by start_run


def _train(model, cfg, run, next_batch, step_fn, tokenizer, desc, main_metric, accelerator) -> list[dict]:
    loop = _Loop(model, cfg, run, tokenizer, accelerator)
    cfg = loop.cfg
    bar = _progress(cfg, cfg.steps, loop.start, desc, enabled=loop.main)
    try:
        for step in range(loop.start, cfg.steps):
            loop.optimizer_step(step, next_batch, step_fn)
            bar.update(1)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                bar.set_postfix(_shown(loop.log_row(done), main_metric), refresh=False)
            if cfg.save_every and done % cfg.save_every == 0 and done < cfg.steps:
                loop.checkpoint(done)
    finally:
        bar.close()
    return loop.finish()


class _Loop:
    """One run of ``train_loop``: the optimizer, the scheduler, the metric sums on the device, and its steps.

    ``unchecked`` holds the last update whose weights the host has not read yet: (step, a device flag that is
    True when every trained weight is finite, that step's metrics); the next host read reads the flag with it.
    """

    def __init__(self, model, cfg, run: RunDir, tokenizer, accelerator):
        if cfg.lr is None:  # the trainers fill it in first; a direct call gets the same recipe
            cfg = apply_recipe(cfg, model)[0]
        self.cfg, self.run, self.tokenizer, self.accelerator = cfg, run, tokenizer, accelerator
        self.main, self.world = accelerator.is_main_process, accelerator.num_processes
        self.named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in self.named]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg))
        self.start = self._resume(model)
        self.model, self.optimizer = accelerator.prepare(model, self.optimizer)
        self.kept_optimizer = self.optimizer if cfg.keeps_optimizer() else None  # optimizer.pt only for a resume
        self.model.train()
        # sums in float64 like Python floats (the host sums of earlier versions); mps has no float64
        self.dtype = torch.float32 if accelerator.device.type == "mps" else torch.float64
        self.names: list[str] | None = None       # metric names, "loss" first, fixed by the first micro-batch
        self.sums: torch.Tensor | None = None     # (M,) or (M + 1,) with grad_norm: summed over the steps of a row
        self.count, self.history = 0, []
        self.unchecked: tuple[int, torch.Tensor, torch.Tensor] | None = None
        self.t0 = time.perf_counter()

    def _resume(self, model) -> int:
        """The step to start from: that of the last checkpoint under ``cfg.resume`` (metric rows after it go)."""
        cfg, run = self.cfg, self.run
        ckpt = last_checkpoint(run) if cfg.resume else None
        start = restore(ckpt, model, self.optimizer, self.scheduler) if ckpt is not None else 0
        if cfg.resume and self.main and run.metrics_path.exists():
            kept = [r for r in run.read_metrics() if r.get("step", 0) <= start]  # rows after the checkpoint are redone
            atomic_write_bytes(run.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8"))
        return start

    def micro_batch(self, step: int, micro: int, next_batch: Callable, step_fn: Callable) -> torch.Tensor:
        """Forward and backward of one micro-batch; returns its [loss, *metrics] as a (M,) tensor on the device."""
        acc, cfg = self.accelerator, self.cfg
        batch = shard_batch(next_batch(step * cfg.grad_accum + micro), acc.process_index, self.world)
        batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        # gradients are all-reduced once per optimizer step, on the last micro-batch
        sync = acc.no_sync(self.model) if micro < cfg.grad_accum - 1 else contextlib.nullcontext()
        with sync:
            with acc.autocast():
                loss, metrics = step_fn(self.model, batch)
            values = self._stack({"loss": loss, **metrics})
            acc.backward(loss / cfg.grad_accum)
        return values

    def _stack(self, metrics: dict) -> torch.Tensor:
        if self.names is None:
            self.names = list(metrics)
        elif set(metrics) != set(self.names):
            raise ValueError(f"step_fn returned the metrics {sorted(metrics)} after {sorted(self.names)}; "
                             f"return the same names at every micro-batch (prefkit/train/loop.py, train_loop)")
        return torch.stack([metrics[k].detach().float().reshape(()) for k in self.names]).to(self.dtype)  # (M,)

    def optimizer_step(self, step: int, next_batch: Callable, step_fn: Callable) -> None:
        """The micro-batches of one step, the guard (one host read), the update; the metrics stay on the device."""
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        try:
            values = torch.stack([self.micro_batch(step, m, next_batch, step_fn)
                                  for m in range(cfg.grad_accum)])                                # (A, M)
        except Exception as exc:  # e.g. sampling from non-finite weights: report the update that made them
            if self.unchecked is not None:
                try:
                    self._check_weights()
                except TrainingDiverged as stop:
                    raise stop from exc
            raise
        grad_norm = self.accelerator.clip_grad_norm_(self.params, cfg.max_grad_norm) if cfg.max_grad_norm else None
        norm = grad_norm if grad_norm is not None else _grad_norm(self.params)
        self._guard(step, values, norm)
        self.optimizer.step()
        self.scheduler.step()
        step_metrics = self._step_mean(values)
        self.unchecked = (step, _weights_finite(self.named), step_metrics)
        if grad_norm is not None:
            step_metrics = torch.cat([step_metrics, grad_norm.detach().to(self.dtype).reshape(1)])
        self.sums = step_metrics if self.sums is None else self.sums + step_metrics
        self.count += 1

    def _guard(self, step: int, values: torch.Tensor, norm: torch.Tensor) -> None:
        """Stop at the first non-finite value: the last update's weights, a micro-batch's loss, the gradient norm.

        One host read of one flag; the values are read only when it says something is not finite.
        """
        losses = values[:, 0].contiguous()                                                      # (A,)
        if self.world > 1:  # a NaN or inf on any rank shows on every rank, so every rank stops at the same step
            losses = self.accelerator.reduce(losses, reduction="sum")
        flags = [torch.isfinite(losses), torch.isfinite(norm.detach()).reshape(1).to(losses.device)]
        if self.unchecked is not None:
            flags.insert(0, self.unchecked[1].reshape(1))
        if _to_host(torch.cat(flags).all())[0]:
            self.unchecked = None
            return
        self._check_weights()
        for row, finite in zip(values, _to_host(torch.isfinite(losses))):
            if not finite:
                terms = self._rank_mean(row)
                loss = terms.pop("loss")
                self._diverged(step, "loss", loss, terms)
        # the gradients are the same on every rank after DDP's all-reduce, so every rank stops together
        self._diverged(step, "gradient norm", _to_host(norm.detach().float())[0],
                       self._rank_mean(self._step_mean(values)))

    def _step_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The (A, M) metrics of a step's micro-batches averaged into (M,), added in order as Python floats were."""
        mean = torch.zeros_like(values[0])
        for row in values:
            mean = mean + row / self.cfg.grad_accum
        return mean

    def _check_weights(self) -> None:
        """Read the last update's weights flag (one host read) and stop the run if a weight is not finite."""
        if self.unchecked is None:
            return
        step, finite, step_metrics = self.unchecked
        self.unchecked = None
        if _to_host(finite)[0]:
            return
        bad = _non_finite_params(self.named)
        self._diverged(step, "updated weights", f"non-finite in {len(bad)} of {len(self.named)} tensors "
                       f"(first: {bad[0]})", self._rank_mean(step_metrics), weights_finite=False)

    def _rank_mean(self, values: torch.Tensor) -> dict[str, float]:
        """A (M,) tensor of metrics as floats by name, averaged over ranks (every rank calls it: a collective)."""
        if self.world > 1:
            values = self.accelerator.reduce(values, reduction="mean")
        return dict(zip(self.names, _to_host(values)))

    def _diverged(self, step: int, what: str, value, terms: dict, weights_finite: bool = True) -> None:
        _diverged(self.run, self.model, self.tokenizer, step, what, value, terms, self.cfg, self.main,
                  weights_finite=weights_finite)

    def log_row(self, done: int) -> dict:
        """Average the metric sums over ranks and steps, and log them: the one host read of the metrics."""
        sums = self.sums
        if self.world > 1:
            sums = self.accelerator.reduce(sums, reduction="mean")
        finite = self.unchecked[1] if self.unchecked is not None else torch.ones((), dtype=torch.bool)
        host = _to_host(torch.cat([finite.to(sums.device, sums.dtype).reshape(1), sums]))  # weights flag first
        if not host[0]:
            self._check_weights()  # raises TrainingDiverged
        self.unchecked = None
        names = self.names + ["grad_norm"] * (len(host) - 1 - len(self.names))
        row = {k: v / self.count for k, v in zip(names, host[1:])}
        row.update(learning_rate=self.scheduler.get_last_lr()[0], elapsed_s=round(time.perf_counter() - self.t0, 2))
        if self.main:
            self.run.log(step=done, **row)
        self.history.append({"step": done, **row})
        self.sums, self.count = None, 0
        return row

    def checkpoint(self, done: int) -> None:
        """Save a checkpoint (the main process) after checking the weights (every rank, so all stop together)."""
        self._check_weights()
        if self.main:
            save_checkpoint(self.run, self.accelerator.unwrap_model(self.model), self.tokenizer, self.kept_optimizer,
                            done, self.scheduler)

    def finish(self) -> list[dict]:
        """The final checkpoint and the record's status; returns the logged rows."""
        self._check_weights()  # the last step always logs a row, which read the flag already
        model = self.accelerator.unwrap_model(self.model)
        if self.main:
            save_checkpoint(self.run, model, self.tokenizer, self.kept_optimizer, self.cfg.steps, self.scheduler)
            if self.run.record_path.exists():
                self.run.update_record(status="finished")
        self.accelerator.wait_for_everyone()
        return self.history


def _shown(row: dict, main_metric: str | None) -> dict[str, str]:
    """The progress bar's postfix: the loss and the trainer's main metric."""
    shown = {"loss": f"{row['loss']:.4f}"}
    if main_metric and main_metric in row:
        shown[main_metric.split("/")[-1]] = f"{row[main_metric]:.3f}"
    return shown


def _to_host(t: torch.Tensor) -> list:
    """Copy a tensor to the host as a flat list: a device sync on a GPU. The loop's only host reads go here."""
    return t.reshape(-1).tolist()


def _grad_norm(params) -> torch.Tensor:
    """The global L2 norm of the gradients (what clipping would measure), without changing them; on the device."""
    grads = [p.grad for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


def _weights_finite(named) -> torch.Tensor:
    """A device flag: True when every trained parameter is finite (no host read)."""
    return torch.stack([torch.isfinite(p.detach()).all() for _, p in named]).all()


def _non_finite_params(named) -> list[str]:
    """Names of the trained parameters that hold a NaN or an inf (read only once the flag says one does)."""
    ok = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])                        # (P,)
    return [n for (n, _), good in zip(named, _to_host(ok)) if not good]


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
