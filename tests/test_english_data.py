"""data/english/: the English preference set loads, is balanced, rebuilds byte for byte and keeps held-out apart."""
from __future__ import annotations

import difflib
import json
import re
import warnings

import pytest
from datasets import Dataset

from prefkit.build_english import EnglishConfig, build_english, counts, english_rows, second_person
from prefkit.build_english_bank import HELDOUT_FRAMES, HELDOUT_TOPICS, SLICES, TRAIN_FRAMES, TRAIN_TOPICS
from prefkit.core import DATA_DIR
from prefkit.data import data_version, load_preferences

ENGLISH = DATA_DIR / "english"
NEAR = 0.8
"""Highest difflib similarity allowed between a held-out prompt and any training prompt."""


def _eval_prompts() -> list[dict]:
    return [json.loads(line) for line in (ENGLISH / "eval_prompts.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def train():
    return load_preferences(ENGLISH / "prefs", split="train")


@pytest.fixture(scope="module")
def test():
    return load_preferences(ENGLISH / "prefs", split="test")


def test_files_load_through_the_kit_with_no_warning_and_expected_counts(train, test):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no duplicate pairs, no other warning
        load_preferences(ENGLISH / "prefs" / "train.jsonl")
    assert len(train) == 300 and len(test) == 60
    assert counts(list(train)) == {s: 100 for s in SLICES}
    assert counts(list(test)) == {s: 20 for s in SLICES}
    assert counts(list(train.select(range(48)))) == {s: 16 for s in SLICES}  # a prefix is balanced too
    prompts = _eval_prompts()
    assert len(prompts) == 48 and counts(prompts) == {s: 16 for s in SLICES}
    assert all(set(p) == {"prompt", "slice", "topic"} for p in prompts)
    assert set(train["rubric_version"]) == {"english-v1"}


def test_seeded_regeneration_is_byte_identical_and_another_seed_differs(tmp_path):
    build_english(EnglishConfig(out=str(tmp_path)))
    files = sorted(p.relative_to(ENGLISH) for p in ENGLISH.rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["README.md", "eval_prompts.jsonl", "prefs/test.jsonl", "prefs/train.jsonl"]
    for rel in files:
        assert (ENGLISH / rel).read_bytes() == (tmp_path / "english" / rel).read_bytes(), rel
    other = english_rows(EnglishConfig(seed=1))
    assert other["train"] != english_rows(EnglishConfig(seed=0))["train"]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_no_held_out_prompt_appears_in_training_exactly_or_nearly(train, test):
    train_prompts = set(train["prompt"])
    held = [p["prompt"] for p in _eval_prompts()] + list(test["prompt"])
    assert not set(held) & train_prompts
    worst = max(difflib.SequenceMatcher(None, h.lower(), t.lower()).ratio() for h in held for t in train_prompts)
    assert worst < NEAR, worst
    # topics and frames are disjoint by construction; the files must agree with the bank
    assert {t.name for t in TRAIN_TOPICS}.isdisjoint(t.name for t in HELDOUT_TOPICS)
    assert not set(TRAIN_FRAMES) & set(HELDOUT_FRAMES)
    assert not {a for t in TRAIN_TOPICS for a in t.asks} & {a for t in HELDOUT_TOPICS for a in t.asks}
    assert set(train["topic"]).isdisjoint(set(test["topic"]) | {p["topic"] for p in _eval_prompts()})
    assert not {p["prompt"] for p in _eval_prompts()} & set(test["prompt"])  # the audit and the test pairs differ


def test_pairs_state_the_target_behaviour_on_every_slice(train):
    refusal = re.compile(r"\b(can't|won't|not able|decline|not something i can)\b", re.IGNORECASE)
    for row in train:
        if row["slice"] == "harmful":
            assert refusal.search(row["chosen"]), row  # a brief refusal ...
            assert len(row["chosen"].split()) <= 30, row  # ... that stays brief
            assert row["rejected_kind"] in ("comply", "ramble")
        else:
            assert not refusal.search(row["chosen"]), row
            assert row["rejected_kind"] in ("refuse", "ramble")
    # enough variety that no single string is "the answer" for a slice
    for s in SLICES:
        chosen = [r["chosen"] for r in train if r["slice"] == s]
        rejected = [r["rejected"] for r in train if r["slice"] == s]
        assert len(set(chosen)) >= 15 and len(set(rejected)) >= 15, s
        assert max(chosen.count(c) for c in set(chosen)) <= 0.15 * len(chosen), s


def test_the_card_lists_the_files_counts_and_versions(train, test):
    card = (ENGLISH / "README.md").read_text(encoding="utf-8")
    prompts = _eval_prompts()
    for name, ds, rows in (("prefs/train.jsonl", train, list(train)), ("prefs/test.jsonl", test, list(test)),
                           ("eval_prompts.jsonl", Dataset.from_list(prompts), prompts)):
        c = counts(rows)
        line = f"| `{name}` | {data_version(ds)} | {len(rows)} | {c['benign']} / {c['borderline']} / {c['harmful']} |"
        assert line in card, line


def test_second_person_echo():
    assert second_person("read my sister's diary") == "read your sister's diary"
    assert second_person("make an ID that says I'm 21") == "make an ID that says you're 21"


def test_sequences_stay_short_with_the_smollm2_chat_template(train, test):
    from test_smollm2 import unavailable

    from prefkit.models.catalog import installed_path
    from prefkit.models.encoding import tokenize_rows
    from prefkit.models.load import load_tokenizer

    path = installed_path("smollm2-135m")
    if path is None:
        unavailable("smollm2-135m is not installed: run `prefkit models get smollm2-135m` (make model)")
    tok = load_tokenizer(path)
    for ds in (train, test):
        for col in ("chosen", "rejected"):
            longest = max(len(r.ids) for r in tokenize_rows(tok, ds["prompt"], ds[col], "default"))
            assert longest <= 96, (col, longest)
