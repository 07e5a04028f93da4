"""Where labels disagree: annotators on the same pairs (policy ambiguity) and a relabel (feedback drift)."""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..data import data_version

if TYPE_CHECKING:
    from datasets import Dataset


def _pairs(ds: Dataset) -> list[tuple]:
    return [(r["prompt"], frozenset((r["chosen"], r["rejected"]))) for r in ds]


def agreement_by_slice(first: Dataset, second: Dataset) -> dict[str, float]:
    """Share of the same pairs that two label sets order the same way, overall and by ``slice``.

    Both datasets must hold the same unordered pairs in the same order (as the shipped annotator sets do).
    """
    if len(first) != len(second) or _pairs(first) != _pairs(second):
        raise ValueError("the two datasets must contain the same pairs in the same order")
    agree, total = defaultdict(int), defaultdict(int)
    for a, b in zip(first, second):
        s = a.get("slice") or "all"
        same = a["chosen"] == b["chosen"]
        for key in {s, "all"}:
            agree[key] += same
            total[key] += 1
    return {k: agree[k] / total[k] for k in sorted(total)}


def _rubrics(ds: Dataset) -> list[str]:
    return sorted(set(ds["rubric_version"])) if "rubric_version" in ds.column_names else []


def relabel_report(old: Dataset, new: Dataset) -> dict:
    """What a relabel changed: flipped labels by slice and the two data versions (recorded in run records)."""
    agreement = agreement_by_slice(old, new)
    return {"data_version/old": data_version(old), "data_version/new": data_version(new),
            "rubric_version/old": _rubrics(old), "rubric_version/new": _rubrics(new),
            "flipped_by_slice": {k: 1 - v for k, v in agreement.items()}}
