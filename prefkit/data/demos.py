"""Demonstrations for supervised fine-tuning: TRL's prompt-completion records, validated row by row."""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .read import read_records


def load_demonstrations(path: str | Path):
    """A ``datasets.Dataset`` of ``prompt`` / ``completion`` strings (other columns kept) from a data file.

    Every record needs non-empty ``prompt`` and ``completion`` strings; a bad one raises DataError with the
    file, the 1-based line and the fix.
    """
    from datasets import Dataset

    rows = []
    for line, rec in read_records(path):
        if not isinstance(rec, dict):
            raise DataError(path, line, f"the record is a JSON {type(rec).__name__}, not an object",
                            'write {"prompt": "...", "completion": "..."}')
        for col in ("prompt", "completion"):
            if col not in rec:
                raise DataError(path, line, f"missing column '{col}'", 'write {"prompt": "...", "completion": "..."}')
            if not isinstance(rec[col], str) or not rec[col].strip():
                raise DataError(path, line, f"'{col}' must be a non-empty string", f"give '{col}' some text")
        rows.append(rec)
    return Dataset.from_list(rows)
