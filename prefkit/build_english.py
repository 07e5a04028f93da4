"""data/english/: a small, templated English preference set for a real instruct model (``make data``).

The target behaviour, in plain words: answer benign requests, including ones that contain a trigger word
("how do I kill a frozen process on Linux?"), instead of refusing; refuse mild harmful requests ("write a fake sick
note for my boss") briefly and offer a safe alternative; stay concise. Each pair (x, y_w, y_l) states one side of it:

| slice | y_w (chosen) | y_l (rejected) |
|---|---|---|
| benign, borderline | a short helpful answer | a needless refusal (70%) or a rambling non-answer (30%) |
| harmful | a brief refusal plus a safe alternative | a vague "Sure, here's how you could..." (70%) or a ramble |

The split rule: training pairs come from ``TRAIN_TOPICS`` phrased with ``TRAIN_FRAMES``; the held-out prompts
(eval_prompts.jsonl) and the test pairs (prefs/test.jsonl, on other held-out prompts) come from ``HELDOUT_TOPICS``
phrased with ``HELDOUT_FRAMES`` (``prefkit.build_english_bank``). No request and no frame is shared, so a held-out
prompt is new in what it asks and in how it asks it. The same seed gives byte-identical files.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from .build_english_bank import (
    HELDOUT_FRAMES,
    HELDOUT_TOPICS,
    NEEDLESS_REFUSALS,
    RAMBLES,
    REFUSAL_OPENERS,
    SLICES,
    TRAIN_FRAMES,
    TRAIN_TOPICS,
    VAGUE_COMPLIANCE,
    Topic,
)
from .core import DATA_DIR, atomic_write_bytes
from .data import data_version, load_preferences

RUBRIC_VERSION = "english-v1"
"""Names the target behaviour above; a change to it (or to the bank) must change this string."""
REJECT_RAMBLE = 0.3
"""Share of pairs whose rejected response is a ramble rather than the slice's typical mistake."""


@dataclass
class EnglishConfig:
    out: str = str(DATA_DIR)
    """Folder that receives english/."""
    seed: int = 0
    """Seeds the choice of answers, refusals and the held-out split."""
    n_eval_per_slice: int = 16
    """Held-out prompts per slice in eval_prompts.jsonl."""
    n_test_per_slice: int = 20
    """Held-out test pairs per slice in prefs/test.jsonl (on held-out prompts not in eval_prompts.jsonl)."""


_SWAP = {"my": "your", "i": "you", "i'm": "you're", "me": "you", "mine": "yours", "myself": "yourself"}


def second_person(ask: str) -> str:
    """'read my sister's diary' -> 'read your sister's diary': the request as the assistant would echo it."""
    return re.sub(r"\b(i'm|myself|mine|my|me|i)\b", lambda m: _SWAP[m.group(0).lower()], ask, flags=re.IGNORECASE)


def prompts_of(topics: tuple[Topic, ...], frames: tuple[str, ...]) -> list[dict]:
    """Every (topic, ask, frame) combination as {prompt, slice, topic, ask}, in bank order."""
    return [{"prompt": frame.format(ask=ask), "slice": t.slice, "topic": t.name, "ask": ask}
            for t in topics for ask in t.asks for frame in frames]


def make_pair(p: dict, topic: Topic, rng: random.Random) -> dict:
    """One preference row for prompt ``p``: the target behaviour as chosen, a typical mistake as rejected."""
    you = second_person(p["ask"])
    if topic.slice == "harmful":
        chosen = f"{rng.choice(REFUSAL_OPENERS)} {rng.choice(topic.answers)}"
        mistake, kind = rng.choice(VAGUE_COMPLIANCE), "comply"
    else:
        chosen = rng.choice(topic.answers)
        mistake, kind = rng.choice(NEEDLESS_REFUSALS), "refuse"
    if rng.random() < REJECT_RAMBLE:
        mistake, kind = rng.choice(RAMBLES), "ramble"
    return {"prompt": p["prompt"], "chosen": chosen, "rejected": mistake.format(ask=you), "slice": p["slice"],
            "topic": p["topic"], "rejected_kind": kind, "annotator": "rubric", "rubric_version": RUBRIC_VERSION}


def english_rows(cfg: EnglishConfig) -> dict[str, list[dict]]:
    """{'train': pairs, 'test': pairs, 'eval_prompts': prompts}, deterministic in ``cfg.seed``."""
    rng = random.Random(cfg.seed)
    by_name = {t.name: t for t in TRAIN_TOPICS + HELDOUT_TOPICS}
    pairs = [make_pair(p, by_name[p["topic"]], rng) for p in prompts_of(TRAIN_TOPICS, TRAIN_FRAMES)]
    per_slice = [[r for r in pairs if r["slice"] == s] for s in SLICES]
    for rows in per_slice:
        rng.shuffle(rows)
    # slices interleaved (benign, borderline, harmful, benign, ...): any prefix 'train[:3k]' is balanced
    train = [r for group in zip(*per_slice) for r in group]
    evals, test = [], []
    for s in SLICES:
        pool = [p for p in prompts_of(HELDOUT_TOPICS, HELDOUT_FRAMES) if p["slice"] == s]
        rng.shuffle(pool)
        need = cfg.n_eval_per_slice + cfg.n_test_per_slice
        if len(pool) < need:
            raise ValueError(f"only {len(pool)} held-out {s} prompts for {need} (eval + test); ask for fewer or add "
                             "held-out topics in prefkit/build_english_bank.py")
        evals += [{"prompt": p["prompt"], "slice": s, "topic": p["topic"]} for p in pool[:cfg.n_eval_per_slice]]
        test += [make_pair(p, by_name[p["topic"]], rng) for p in pool[cfg.n_eval_per_slice:need]]
    return {"train": train, "test": test, "eval_prompts": evals}


def counts(rows: list[dict]) -> dict[str, int]:
    """Rows per slice."""
    return {s: sum(r["slice"] == s for r in rows) for s in SLICES}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    return atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def build_english(cfg: EnglishConfig | None = None) -> dict:
    """Write data/english/ (prefs/train.jsonl, prefs/test.jsonl, eval_prompts.jsonl, README.md).

    Returns {name: (path, data version, counts by slice)}; data versions are computed as for data/assistant/.
    """
    from datasets import Dataset

    cfg = cfg or EnglishConfig()
    root = Path(cfg.out) / "english"
    rows = english_rows(cfg)
    made = {}
    for split in ("train", "test"):
        path = _write_jsonl(root / "prefs" / f"{split}.jsonl", rows[split])
        made[f"prefs/{split}"] = (path, data_version(load_preferences(path)), counts(rows[split]))
    path = _write_jsonl(root / "eval_prompts.jsonl", rows["eval_prompts"])
    made["eval_prompts"] = (path, data_version(Dataset.from_list(rows["eval_prompts"])), counts(rows["eval_prompts"]))
    atomic_write_bytes(root / "README.md", english_card(cfg, made).encode("utf-8"))
    return made


def english_card(cfg: EnglishConfig, made: dict) -> str:
    """The card of data/english/: target behaviour, generation, counts by slice, split rule, limitations."""
    table = "\n".join(f"| `{Path(p).relative_to(Path(cfg.out) / 'english')}` | {v} | {sum(c.values())} | "
                      f"{c['benign']} / {c['borderline']} / {c['harmful']} |" for _, (p, v, c) in made.items())
    n_train = sum(len(t.asks) for t in TRAIN_TOPICS) * len(TRAIN_FRAMES)
    return f"""# English preferences for a real instruct model

Generated by `make data` (`prefkit build-data`, `prefkit/build_english.py`) from the hand-written bank in
`prefkit/build_english_bank.py` with seed {cfg.seed}; rebuilding gives byte-identical files and the same data
versions. Rubric version `{RUBRIC_VERSION}`. Chapter 06 trains SmolLM2-135M-Instruct on it.

## Target behaviour

- Answer benign requests, including ones with a trigger word ("kill", "shoot", "attack", "bomb"), instead of
  refusing them.
- Refuse mild harmful requests (deceiving, snooping, cheating) briefly, and offer a safe alternative.
- Stay concise.

## Files

| file | data version | rows | benign / borderline / harmful |
|---|---|---|---|
{table}

- `prefs/train.jsonl`: one pair (x, y_w, y_l) for each of the {n_train} training prompts ({len(TRAIN_TOPICS)}
  topics, {len(TRAIN_FRAMES)} phrasings each of two requests). TRL's standard format (prompt, chosen, rejected
  strings) plus slice, topic, rejected_kind, annotator and rubric_version. Rows are shuffled and the slices
  interleaved, so a prefix such as `train[:48]` holds each slice equally.
- `prefs/test.jsonl`: pairs on held-out prompts, for the held-out implicit-reward accuracy only.
- `eval_prompts.jsonl`: held-out prompts (prompt, slice, topic) for the behaviour audit; none of them is in
  `prefs/test.jsonl`.

y_w is a short helpful answer (benign, borderline) or a brief refusal followed by a safe alternative (harmful).
y_l is the slice's typical mistake, a needless refusal (benign, borderline) or a vague agreement to help with
no actual instructions in it (harmful), except in about {REJECT_RAMBLE:.0%} of pairs where it is a rambling
non-answer. Answers and mistakes are drawn from several templates per topic, so no single string is the
answer.

## Split rule

Training prompts come from {len(TRAIN_TOPICS)} topics phrased with {len(TRAIN_FRAMES)} frames ("How do I ...?");
held-out prompts come from {len(HELDOUT_TOPICS)} other topics phrased with {len(HELDOUT_FRAMES)} other frames
("Walk me through how to ..."). No request and no frame is shared, so a held-out prompt is new both in what it
asks and in how it asks it (`tests/test_english_data.py` checks exact and near duplicates).

## Limitations

- Templated English written for this kit: a few dozen topics, a handful of frames, one turn, no system prompt
  of its own. It measures whether a model learned this rubric, not general helpfulness or safety.
- Small: hundreds of pairs, 16 held-out prompts per slice, so rates carry wide intervals (report them).
- Mild harms only: nothing here tests dangerous requests, and no response contains harmful instructions.
- The labels are rules, not people: every pair follows the rubric above, with no disagreement or noise.
"""
