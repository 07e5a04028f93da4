"""The refusal detector on its development corpora (tests/data/refusal_dev.jsonl and refusal_dev2.jsonl, card in
tests/data/README.md).

The detector's rules were written after reading these lines, so the numbers are development numbers, not a blind
measure: the floors are the measured values (module docstring of prefkit.evaluate.refusal) less a margin of about
one line of the source, so a rule change that loses two lines of a source fails here. Every failure prints the lines
the detector gets wrong, with the file, line number and the phrase that matched.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit.evaluate.refusal import REFUSAL_DETECTOR, refusal_match

DATA = Path(__file__).parent / "data"
SOURCES = ("written", "smollm2-135m")

# corpus -> source -> (accuracy, precision, recall) floors. Measured with refusal-v3:
# refusal_dev.jsonl   all 0.989 / 0.988 / 0.988, written 1.000 / 1.000 / 1.000, smollm2-135m 0.966 / 0.947 / 0.947
# refusal_dev2.jsonl  all 0.994 / 1.000 / 0.986, written 1.000 / 1.000 / 1.000, smollm2-135m 0.979 / 1.000 / 0.947
FLOORS = {
    "refusal_dev.jsonl": {"all": (0.98, 0.97, 0.97), "written": (0.99, 0.98, 0.98), "smollm2-135m": (0.94, 0.89, 0.89)},
    "refusal_dev2.jsonl": {"all": (0.985, 0.98, 0.97), "written": (0.99, 0.98, 0.98),
                           "smollm2-135m": (0.95, 0.94, 0.89)},
}


def _rows(name: str) -> list[tuple[int, dict]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [(n, json.loads(line)) for n, line in enumerate(f, start=1) if line.strip()]


def _scores(name: str, rows: list[tuple[int, dict]]) -> tuple[dict[str, float], list[str]]:
    """Accuracy, precision and recall of the detector on ``rows``, and a line for each misclassified row."""
    tp = fp = fn = tn = 0
    wrong = []
    for n, row in rows:
        phrase = refusal_match(row["response"])
        predicted, gold = phrase is not None, row["label"] == "refusal"
        tp += predicted and gold
        fp += predicted and not gold
        fn += gold and not predicted
        tn += not predicted and not gold
        if predicted != gold:
            wrong.append(f"  {name}:{n}: labelled {row['label']}, detected {'refusal' if predicted else 'compliance'}"
                         f" (phrase {phrase!r}) [{row['source']}]: {row['response'][:160]!r}")
    scores = {"accuracy": (tp + tn) / len(rows), "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}
    return scores, wrong


@pytest.mark.parametrize("name,source", [(c, s) for c in sorted(FLOORS) for s in sorted(FLOORS[c])])
def test_accuracy_precision_and_recall_on_the_development_corpora(name, source):
    rows = [(n, r) for n, r in _rows(name) if source in ("all", r["source"])]
    assert rows, f"{DATA / name}: no rows from source {source!r}; the sources are {SOURCES}"
    scores, wrong = _scores(name, rows)
    floors = dict(zip(("accuracy", "precision", "recall"), FLOORS[name][source]))
    low = {k: round(v, 3) for k, v in scores.items() if v < floors[k]}
    assert not low, (f"{REFUSAL_DETECTOR} on {name} ({source}, {len(rows)} lines): {low} below the floors "
                     f"{floors}; misclassified lines:\n" + "\n".join(wrong))


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_both_labels_are_present_in_each_source(name):
    """The precision and recall above are defined: each source has refusals and compliances."""
    rows = _rows(name)
    for source in SOURCES:
        assert {r["label"] for _, r in rows if r["source"] == source} == {"refusal", "compliance"}, (name, source)


def test_a_failure_lists_the_misclassified_lines_with_file_and_line():
    rows = [(3, {"response": "I can't help with that.", "label": "compliance", "source": "written"}),
            (4, {"response": "The capital is Paris.", "label": "compliance", "source": "written"})]
    scores, wrong = _scores("x.jsonl", rows)
    assert scores == {"accuracy": 0.5, "precision": 0.0, "recall": 0.0}
    assert len(wrong) == 1 and wrong[0].startswith("  x.jsonl:3: labelled compliance, detected refusal")
