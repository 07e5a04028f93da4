"""The shipped word-level tokenizer encodes every shipped pair exactly as before token-exact encoding.

tests/data/shipped_encoding.json was made with the encoder that came before ``prefkit.models.encoding``: a
sha256 over every unique shipped (prompt, response) of json([ids, response_mask]), under every chat template of
the world, the tokenizer's default and the plain format (None), untruncated and cut at 40 and 128 tokens, plus
the generation prompts' ids and two padded pair batches. Equal hashes mean every stored notebook output that
depends on token ids is unchanged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from prefkit.core import DATA_DIR
from prefkit.models import encode_responses, load_tokenizer, prompt_token_ids, render_prompt
from prefkit.train.pairs import encode_pairs
from prefkit.worlds import assistant as world

FIXTURE = json.loads((Path(__file__).parent / "data" / "shipped_encoding.json").read_text())
TEMPLATES = ["default", *world.TEMPLATES, None]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("assistant-sft")


@pytest.fixture(scope="module")
def pairs():
    out = []
    for line in (DATA_DIR / "assistant" / "sft.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append((r["prompt"], r["completion"]))
    for f in sorted((DATA_DIR / "assistant" / "prefs").glob("*/*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            out += [(r["prompt"], r["chosen"]), (r["prompt"], r["rejected"])]
    out = sorted(set(out))
    assert len(out) == FIXTURE["n_pairs"]
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest() == FIXTURE["pairs_sha256"]  # same shipped data
    return [p for p, _ in out], [r for _, r in out]


def digest(tok, prompts, responses, template, max_length):
    h = hashlib.sha256()
    for i in range(0, len(prompts), 512):
        b = encode_responses(tok, prompts[i:i + 512], responses[i:i + 512], template=template, max_length=max_length)
        for ids, att, resp in zip(b["input_ids"], b["attention_mask"], b["response_mask"]):
            n = int(att.sum())
            h.update(json.dumps([ids[:n].tolist(), resp[:n].tolist()]).encode())
    return h.hexdigest()


@pytest.mark.parametrize("template", ["default", "chatml", "qa", None])
def test_every_25th_shipped_pair_encodes_as_before(tok, pairs, template):
    ps, rs = pairs
    assert digest(tok, ps[::25], rs[::25], template, None) == FIXTURE["subset_every_25th"][str(template)]


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_pairs_encode_as_before(tok, side):
    rows = [json.loads(line) for line in
            (DATA_DIR / "assistant/prefs/clean/train.jsonl").read_text().splitlines()[:64]]
    t = encode_pairs(tok, [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows],
                     "default", 128, padding_side=side)
    got = hashlib.sha256(json.dumps({k: v.tolist() for k, v in sorted(t.items())}).encode()).hexdigest()
    assert got == FIXTURE["padded_clean_train_64"][side]


@pytest.mark.parametrize("template", TEMPLATES)
def test_generation_prompts_encode_as_before(tok, pairs, template):
    prompts = sorted({p.text for p in world.all_prompts()} | set(pairs[0]))
    assert len(prompts) == FIXTURE["n_prompts"]
    old, new = hashlib.sha256(), hashlib.sha256()
    ids = prompt_token_ids(tok, prompts, template)
    for p, i in zip(prompts, ids):
        old.update(json.dumps(tok(render_prompt(tok, p, template), add_special_tokens=False)["input_ids"]).encode())
        new.update(json.dumps(list(i)).encode())
    assert old.hexdigest() == new.hexdigest() == FIXTURE["prompts"][str(template)]


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_shipped_pair_encodes_as_before(tok, pairs, template):
    ps, rs = pairs
    for max_length in (None, 40, 128):
        assert digest(tok, ps, rs, template, max_length) == FIXTURE["responses"][f"{template}/{max_length}"]
