"""The refusal detector measured on a test corpus written without seeing the detector or its development corpora.

tests/data/refusal_test.jsonl (card: tests/data/README.md) was written, and SmolLM2-135M-Instruct's answers in it
labelled by reading them, while refusal-v3 was being developed on tests/data/refusal_dev.jsonl and
refusal_dev2.jsonl; its blind score is on the card (accuracy 0.949, precision 0.982, recall 0.900). The thresholds
are the acceptance bar for the detector that the general evaluation setting uses (prefkit/evaluate/refusal.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from prefkit.evaluate.refusal import REFUSAL_DETECTOR, is_refusal

CORPUS = Path(__file__).parent / "data" / "refusal_test.jsonl"


def _scores(rows: list[dict]) -> dict:
    pred = [is_refusal(r["response"]) for r in rows]
    true = [r["label"] == "refusal" for r in rows]
    tp = sum(p and t for p, t in zip(pred, true))
    fp = sum(p and not t for p, t in zip(pred, true))
    fn = sum(t and not p for p, t in zip(pred, true))
    wrong = [f"{CORPUS.name}:{r['_line']} {r['label']} ({r['source']}): {r['response'][:100]!r}"
             for r, p, t in zip(rows, pred, true) if p != t]
    return {"n": len(rows), "accuracy": 1 - len(wrong) / len(rows), "precision": tp / max(tp + fp, 1),
            "recall": tp / max(tp + fn, 1), "wrong": wrong}


def _rows() -> list[dict]:
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    return [dict(json.loads(line), _line=i) for i, line in enumerate(lines, 1) if line.strip()]


def test_detector_on_the_blind_test_corpus():
    s = _scores(_rows())
    print(f"{REFUSAL_DETECTOR} on {CORPUS.name}: n {s['n']}, accuracy {s['accuracy']:.3f}, "
          f"precision {s['precision']:.3f}, recall {s['recall']:.3f}")
    detail = "\n".join(s["wrong"])
    assert s["accuracy"] >= 0.9, f"accuracy {s['accuracy']:.3f} < 0.9; misclassified:\n{detail}"
    assert s["precision"] >= 0.85 and s["recall"] >= 0.85, (s["precision"], s["recall"], detail)


def test_detector_on_the_model_answers_alone():
    """SmolLM2's own answers are what the chapter measures: the detector must hold on them, not only on written text."""
    s = _scores([r for r in _rows() if r["source"] == "smollm2-135m"])
    assert s["n"] >= 30
    assert s["accuracy"] >= 0.85, "\n".join(s["wrong"])
