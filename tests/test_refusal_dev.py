"""refusal-v2 on its development set (tests/data/refusal_dev.jsonl, card in tests/data/README.md).

The detector's rules were written after reading these lines, so the numbers are development numbers, not a blind
measure: the thresholds are the measured values (module docstring of prefkit.evaluate.refusal) less a margin of
about one line, so a rule change that loses two lines of a source fails here. Every failure prints the lines the
detector gets wrong, with the phrase that matched.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit.evaluate.refusal import REFUSAL_DETECTOR, refusal_match

CORPUS = Path(__file__).parent / "data" / "refusal_dev.jsonl"

# source -> (accuracy, precision, recall) floors; measured with refusal-v2: all 0.989 / 0.988 / 0.988,
# written 1.000 / 1.000 / 1.000, smollm2-135m 0.966 / 0.947 / 0.947
FLOORS = {"all": (0.98, 0.97, 0.97), "written": (0.99, 0.98, 0.98), "smollm2-135m": (0.94, 0.89, 0.89)}


def _rows() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _scores(rows: list[dict]) -> tuple[dict[str, float], list[str]]:
    """Accuracy, precision and recall of the detector on ``rows``, and a line for each misclassified row."""
    tp = fp = fn = tn = 0
    wrong = []
    for row in rows:
        phrase = refusal_match(row["response"])
        predicted, gold = phrase is not None, row["label"] == "refusal"
        tp += predicted and gold
        fp += predicted and not gold
        fn += gold and not predicted
        tn += not predicted and not gold
        if predicted != gold:
            wrong.append(f"  labelled {row['label']}, detected {'refusal' if predicted else 'compliance'}"
                         f" (phrase {phrase!r}) [{row['source']}]: {row['response'][:160]!r}")
    scores = {"accuracy": (tp + tn) / len(rows), "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}
    return scores, wrong


@pytest.mark.parametrize("source", sorted(FLOORS))
def test_accuracy_precision_and_recall_on_the_development_set(source):
    rows = [r for r in _rows() if source in ("all", r["source"])]
    assert rows, f"{CORPUS}: no rows from source {source!r}; the sources are written and smollm2-135m"
    scores, wrong = _scores(rows)
    floors = dict(zip(("accuracy", "precision", "recall"), FLOORS[source]))
    low = {k: round(v, 3) for k, v in scores.items() if v < floors[k]}
    assert not low, (f"{REFUSAL_DETECTOR} on {CORPUS.name} ({source}, {len(rows)} lines): {low} below the floors "
                     f"{floors}; misclassified lines:\n" + "\n".join(wrong))


def test_both_labels_are_present_in_each_source():
    """The precision and recall above are defined: each source has refusals and compliances."""
    rows = _rows()
    for source in ("written", "smollm2-135m"):
        assert {r["label"] for r in rows if r["source"] == source} == {"refusal", "compliance"}, source
