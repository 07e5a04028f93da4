"""Devices, dtypes, seeding and run records: the ground every other module stands on.

A run directory is the model contract (docs/design.md, The run record): ``run.json`` says what produced the
model (config, seed, data version, chat template, reference model and policy version, decoder settings,
library versions, git commit), ``metrics.jsonl`` holds one row per logged step, ``eval.json`` the held-out
evaluation. Every file is written atomically, so an interrupted run never leaves half a record behind.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .core_rundir import fsync_dir

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
DATA_DIR = Path(os.environ.get("PREFKIT_DATA", REPO_ROOT / "data"))


# ----------------------------------------------------------------------------------------------- cache
def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The kit's cache: ``cache_dir``, else ``$PREFKIT_CACHE``, else ``~/.cache/prefkit``.

    It holds cached reference log-probs (``ref_logps/``) and installed models (``models/``, see
    ``prefkit.models.catalog``); everything in it can be deleted and is rebuilt on demand.
    """
    root = cache_dir or os.environ.get("PREFKIT_CACHE") or Path.home() / ".cache" / "prefkit"
    return Path(root)


# ---------------------------------------------------------------------------------------------- devices
def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: ``cuda`` when available, else ``cpu``.

    Apple's ``mps`` is used only when asked for (``prefer="mps"``): some ops the trainers need are slower or
    missing there, so it is never picked silently. ``prefer`` may also force ``"cpu"`` or ``"cuda:1"``.
    """
    if prefer is not None:
        kind = prefer.split(":")[0]
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} was asked for but torch sees no CUDA GPU "
                               f"(torch {torch.__version__}); use 'cpu' or install a CUDA build of torch")
        if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device 'mps' was asked for but torch.backends.mps is not available")
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """Mixed-precision policy: bf16 autocast on CUDA GPUs that support it, none (fp32) elsewhere.

    Log-probabilities are always computed in fp32 by the callers, whatever this returns.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (all devices); on request make torch's CPU kernels deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


# ------------------------------------------------------------------------------------------ versions
def library_versions() -> dict[str, str | None]:
    """Versions of python and the libraries a run depends on; None where one is not installed."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("prefkit", "torch", "transformers", "datasets", "accelerate", "safetensors", "trl", "peft"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: str | os.PathLike = REPO_ROOT) -> str | None:
    """The commit of the checkout holding ``path`` (with ``+dirty`` when it has changes), or None."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


# ------------------------------------------------------------------------------------ atomic writes
def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # JSON has no NaN or inf; keep the value readable instead of writing invalid JSON
    return obj


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # the rename itself survives a power cut
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


# ------------------------------------------------------------------------------------ run directory
class RunDir:
    """A run directory (docs/design.md, The run record): ``run.json``, ``metrics.jsonl``, ``eval.json`` and checkpoints.

    >>> run = RunDir.create("runs", "dpo")                       # runs/dpo-20261129-101500-ab12
    >>> run.write_record(config=cfg, seed=0, data_version=v, template="plain", reference="data/models/...")
    >>> run.log(step=10, loss=0.61, **{"rewards/accuracies": 0.8})
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, root: str | os.PathLike, name: str) -> "RunDir":
        """A fresh run directory ``root/name-YYYYmmdd-HHMMSS-xxxx`` (never reuses an existing one)."""
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{name}-{stamp}-", dir=root))
        return cls(path)

    @property
    def record_path(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def eval_path(self) -> Path:
        return self.path / "eval.json"

    def write_record(self, *, config: Any, seed: int, data_version: str | None, template: str | None = None,
                     reference: str | None = None, policy_version: str | None = None,
                     decoder: dict | None = None, device: str | None = None, **extra: Any) -> dict:
        """Write ``run.json``: everything needed to say what produced this run and to reproduce it."""
        record = {
            "kind": type(config).__name__ if dataclasses.is_dataclass(config) else None,
            "config": config,
            "seed": seed,
            "data_version": data_version,
            "template": template,
            "reference_model": reference,
            "policy_version": policy_version,
            "decoder": decoder or {},
            "device": device,
            "versions": library_versions(),
            "git_commit": git_commit(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **extra,
        }
        atomic_write_json(self.record_path, record)
        return json.loads(self.record_path.read_text())

    def update_record(self, **fields: Any) -> dict:
        """Add or replace fields of ``run.json`` (atomically), e.g. the finished policy version."""
        record = self.read_record()
        record.update(_jsonable(fields))
        atomic_write_json(self.record_path, record)
        return record

    def read_record(self) -> dict:
        return json.loads(self.record_path.read_text())

    def log(self, step: int, **metrics: Any) -> None:
        """Append one row to ``metrics.jsonl`` (TRL metric names: loss, rewards/chosen, ...).

        A row is written with a single ``write`` of a complete line, flushed and fsynced, so a crash can at most
        lose the row being written, never corrupt the rows before it.
        """
        row = _jsonable({"step": step, **metrics})
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict]:
        """All complete rows of ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
        if not self.metrics_path.exists():
            return []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        rows = []
        for i, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if i == len(lines):  # only the row being written when a run was killed may be torn
                    break
                raise ValueError(f"{self.metrics_path}, line {i}: not valid JSON ({exc.msg}); "
                                 "the metrics file was edited or corrupted") from exc
        return rows

    def write_eval(self, results: dict) -> Path:
        return atomic_write_json(self.eval_path, results)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"
