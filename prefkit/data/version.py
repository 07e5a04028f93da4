"""The data version: a content hash that names exactly which preference pairs a run saw."""
from __future__ import annotations

import hashlib
import json
import math


def _canonical(value):
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return int(value)  # 1.0 and 1 are the same number whatever wrote the file
        return value
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def data_version(dataset) -> str:
    """A short content hash of every row, in order: ``"pd-<16 hex>"``.

    It changes when any value in any row changes (a relabel under a new rubric, an edited response, a row
    added, removed or moved) and not when a file is only re-serialized: whitespace, key order, ``1`` written
    as ``1.0``, or a JSONL file converted to parquet give the same version. Absent optional values (None)
    do not count, so a column that is empty in every row does not change the version either.
    """
    h = hashlib.sha256()
    for row in dataset:
        line = json.dumps(_canonical(dict(row)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return "pd-" + h.hexdigest()[:16]
