"""What every trainer returns: ``TrainResult`` (docs/design.md, The run record).

    >>> result = train_dpo(DPOConfig())
    >>> result.model, result.history[-1]["loss"], result.run_dir     # the model, its logged rows, its folder
    >>> result.read_record()["data_version"], result.read_eval()["summary"]     # run.json and eval.json, read back

The run directory is the record of the run; the result only points at it, so what a caller reads is what a
later reader of the folder reads. Best-of-n trains nothing: its result has ``history == []`` and carries its
kept ``samples`` and its ``report`` (the numbers eval.json holds) as well.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import RunDir


@dataclass
class TrainResult:
    """A finished run: ``model`` (trained, in eval mode), ``history`` (the rows of metrics.jsonl, one per
    ``log_every`` steps) and ``run`` (its RunDir: run.json, metrics.jsonl, checkpoint/, eval.json)."""

    model: Any
    history: list[dict]
    run: RunDir
    samples: list[dict] | None = None       # best-of-n: one record per kept response
    report: dict | None = field(default=None, repr=False)  # best-of-n: its eval.json without the samples

    @property
    def run_dir(self) -> Path:
        """The run directory (``prefkit eval RUN_DIR`` and ``load_*`` read it)."""
        return self.run.path

    def read_record(self) -> dict:
        """run.json: config, seed, data version, template, reference, status, ..."""
        return self.run.read_record()

    def read_eval(self) -> dict:
        """eval.json: the held-out evaluation the trainer wrote ({} when it wrote none)."""
        path = self.run.eval_path
        return json.loads(path.read_text()) if path.exists() else {}


__all__ = ["TrainResult"]
