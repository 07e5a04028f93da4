"""Starting and finishing a run: the config checked, the device found, the run directory claimed, run.json written.

Every trainer has the same skeleton: ``begin`` (seed, model), encode its data, ``start_run``, ``train_loop``,
``finish`` (policy version, eval.json, the ``TrainResult``).

Everything that can reject a run happens here, before the run directory is created or touched:

- every config field's type and range (``validate``) and the chat template against the tokenizer;
- the device (``--device cuda`` without a GPU is a ``ConfigError`` listing the devices there are);
- the run directory: locked while the run writes (a second trainer on it fails at once); a directory that
  already holds a run is used only with ``--resume``, and a resumed run must have the config it was started
  with (the differing fields are named). Bookkeeping fields that do not change the result (``BOOKKEEPING``)
  may differ; each change is recorded in run.json under ``resumes``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from typing import Callable

import torch

from ..core import RunDir, _jsonable, autocast_dtype, get_device, seed_everything
from ..core_rundir import RunDirError, acquire, release, started
from ..data import DataWarning
from ..models.chat_template import template_record
from .checkpoint import last_checkpoint, recover_checkpoints
from .result import TrainResult
from .validate import ConfigError, check_template, flag, validate

BOOKKEEPING = ("resume", "run_dir", "output_dir", "progress", "device", "save_every", "cache_dir")
"""Config fields a resumed run may change: where files go, what is shown, the device; not the result."""


def make_accelerator(cfg):
    """The Accelerator for ``cfg.device``: bf16 autocast on capable GPUs, fp32 elsewhere; DDP when launched so."""
    from accelerate import Accelerator

    try:
        device = get_device(cfg.device)
    except RuntimeError as exc:
        here = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        raise ConfigError(f"{flag('device')} {cfg.device!r}: {exc}; devices here: {', '.join(here)}, "
                          f"or none (the best available)") from None
    precision = "bf16" if autocast_dtype(device) == torch.bfloat16 else "no"
    return Accelerator(cpu=device.type == "cpu", mixed_precision=precision)


def create_run_dir(cfg, name: str, accelerator=None) -> tuple[RunDir, bool]:
    """``(run, created)``: ``cfg.run_dir``, or a fresh run directory under ``cfg.output_dir`` every rank agrees on."""
    if cfg.run_dir:
        from pathlib import Path

        existed = Path(cfg.run_dir).exists()
        return RunDir(cfg.run_dir), not existed
    if accelerator is None or accelerator.num_processes == 1:
        return RunDir.create(cfg.output_dir, name), True
    from accelerate.utils import broadcast_object_list

    path = [str(RunDir.create(cfg.output_dir, name).path) if accelerator.is_main_process else None]
    broadcast_object_list(path, from_process=0)
    return RunDir(path[0]), True


def model_name(model, fallback: str) -> str:
    """What a run record calls a model: the folder or hub name it was loaded from, else ``fallback``."""
    return getattr(model.config, "_name_or_path", None) or fallback


def config_changes(recorded: dict, cfg) -> dict[str, list]:
    """``{field: [recorded value, new value]}`` for every field of ``cfg`` that differs from run.json's config."""
    now = json.loads(json.dumps(_jsonable(cfg)))
    return {k: [recorded.get(k), v] for k, v in now.items() if recorded.get(k) != v}


def _describe(run: RunDir) -> str:
    ckpt = last_checkpoint(run)
    step = json.loads((ckpt / "trainer_state.json").read_text()).get("step") if ckpt else None
    status = run.read_record().get("status", "interrupted") if run.record_path.exists() else "interrupted"
    if status == "running":
        status = "interrupted"  # nobody holds its lock, so the process that wrote it is gone
    return f"{status}, last checkpoint at step {step}" if step is not None else f"{status}, no checkpoint"


def _check_reuse(run: RunDir, cfg, record: dict) -> dict:
    """The run.json fields to add for a resumed run; raises when the directory may not be used so."""
    holds_run = run.record_path.exists() or started(run.path)
    if holds_run and not cfg.resume:
        raise RunDirError(f"{run.path} already holds a run ({_describe(run)}); pass --resume to continue it, or "
                          f"choose a new --run-dir (or leave it out for a fresh directory under --output-dir)")
    if not (cfg.resume and run.record_path.exists()):
        return {}
    old = run.read_record()
    changes = config_changes(old.get("config") or {}, cfg)
    wrong = {k: v for k, v in changes.items() if k not in BOOKKEEPING}
    if wrong:
        shown = "; ".join(f"{flag(k)} was {json.dumps(a)}, now {json.dumps(b)}" for k, (a, b) in wrong.items())
        raise ConfigError(f"--resume {run.path}: the config differs from the one the run was started with ({shown}); "
                          f"resume with the recorded values (run.json 'config'), or start a new run")
    if "data_version" in record and old.get("data_version") not in (None, record["data_version"]):
        raise ConfigError(f"--resume {run.path}: the training data changed since the run started (data version "
                          f"{old['data_version']}, now {record['data_version']}); restore the data, or start a new run")
    entry = {"at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "changed": {k: v for k, v in changes.items() if k != "resume"}}
    return {"resumed": True, "status": "running", "resumes": [*old.get("resumes", []), entry]}


def quiet_other_ranks() -> None:
    """Under DDP only the main process shows data warnings: every rank reads and encodes the same data, so the
    other ranks would repeat the main one's warning word for word. The launcher (torchrun, ``accelerate launch``)
    gives each process its ``RANK``; a process of rank other than 0 ignores ``DataWarning`` from here on. The
    counts stay in run.json, which the main process writes."""
    if os.environ.get("RANK", "0").strip() not in ("", "0"):
        warnings.filterwarnings("ignore", category=DataWarning)


def check_config(cfg, tokenizer=None) -> None:
    """Every config field's type and range, and the chat template against ``tokenizer``: ``ConfigError`` if not.

    ``start_run`` calls it; a trainer calls it first when it encodes its data before the run starts.
    """
    validate(cfg)
    if tokenizer is not None and hasattr(cfg, "template"):
        check_template(tokenizer, cfg.template)


def begin(cfg, model, tokenizer, load: Callable[[], tuple]) -> tuple:
    """A trainer's first step: seed every generator, quiet the other ranks' data warnings, and ``load()`` the model
    and tokenizer when no model is given; ``(model, tokenizer)``."""
    seed_everything(cfg.seed)
    quiet_other_ranks()  # under DDP the main process alone warns
    if model is None:
        model, tokenizer = load()
    if tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    return model, tokenizer


def finish(cfg, run: RunDir, model, history: list[dict], accelerator,
           evaluate: Callable[[], dict | None] | None = None, **record) -> TrainResult:
    """A trainer's last step: the model to eval mode; on the main process run.json gets the policy version (and
    ``record``) and eval.json what ``evaluate()`` returns (nothing for None); every rank waits; the result."""
    model.eval()
    if accelerator.is_main_process:
        run.update_record(policy_version=f"{run.path.name}@step{cfg.steps}", run_dir=str(run.path), **record)
        result = evaluate() if evaluate is not None else None
        if result is not None:
            run.write_eval(result)
    accelerator.wait_for_everyone()
    return TrainResult(model, history, run)


def start_run(cfg, name: str, accelerator=None, *, tokenizer=None, **record):
    """``(accelerator, run)`` for a trainer: the Accelerator, the run directory every rank agrees on, and run.json.

    Checks first (``validate``, the chat template against ``tokenizer``, the device, the run directory: see the
    module docstring), then creates or claims the directory. A resumed run keeps its record and is marked
    ``resumed``; otherwise run.json gets the config, seed, device, world size and ``record`` (data version,
    template, reference, ...); with the ``tokenizer`` also ``chat_template``: the template's name, Jinja text and
    SHA-256. Only the main process writes and holds the lock; under DDP what rejects the directory there is
    raised on every rank.
    """
    check_config(cfg, tokenizer)
    if tokenizer is not None and "template" in record:
        record["chat_template"] = template_record(tokenizer, record["template"])
    accelerator = accelerator or make_accelerator(cfg)
    run, created = create_run_dir(cfg, name, accelerator)
    error = None
    if accelerator.is_main_process:
        try:
            acquire(run.path, created)
            try:
                resumed = _check_reuse(run, cfg, record)
                recover_checkpoints(run)
                if resumed:
                    run.update_record(**resumed)
                else:
                    run.write_record(config=cfg, seed=cfg.seed, device=str(accelerator.device),
                                     world_size=accelerator.num_processes, status="running", **record)
            except BaseException:
                release(run.path)
                raise
        except Exception as exc:
            if accelerator.num_processes == 1:
                raise
            error = exc
    if accelerator.num_processes > 1:
        _share_verdict(error)
    return accelerator, run


def _share_verdict(error: Exception | None) -> None:
    """Under DDP the main process alone claims the run directory: every rank raises what it raised, or none does.

    Without this a rejected directory (locked, or finished and no ``--resume``) stops the main process while the
    other ranks wait for it in their first collective, for ever.
    """
    from accelerate.utils import broadcast_object_list

    verdict = [None if error is None else (type(error).__name__, str(error))]
    broadcast_object_list(verdict, from_process=0)
    if error is not None:
        raise error
    if verdict[0] is not None:
        kind, text = verdict[0]
        raise {"RunDirError": RunDirError, "ConfigError": ConfigError}.get(kind, RuntimeError)(
            text if kind in ("RunDirError", "ConfigError") else f"the main process failed to start the run: {kind}: "
                                                                  f"{text}")


__all__ = ["BOOKKEEPING", "begin", "finish", "quiet_other_ranks", "check_config", "make_accelerator", "create_run_dir", "model_name",
           "config_changes", "start_run"]
