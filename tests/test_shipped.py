"""What `make data` ships: datasets that rebuild byte for byte, and a reference policy with room to improve."""
from __future__ import annotations

import filecmp
import re
import warnings

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefkit.build import ANNOTATOR_SETS, BuildConfig, build_datasets
from prefkit.core import DATA_DIR
from prefkit.data import data_version, load_demonstrations, load_preferences
from prefkit.evaluate import evaluate_policy
from prefkit.models import generate
from prefkit.worlds import assistant as world

MODEL = DATA_DIR / "models" / "assistant-sft"
ASSISTANT = DATA_DIR / "assistant"


@pytest.fixture(scope="module")
def policy():
    return AutoModelForCausalLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)


@pytest.mark.slow
def test_rebuilding_the_datasets_gives_identical_bytes(tmp_path):
    build_datasets(BuildConfig(out=str(tmp_path)))
    cmp = filecmp.dircmp(ASSISTANT, tmp_path / "assistant")
    files = sorted(p.relative_to(ASSISTANT) for p in ASSISTANT.rglob("*") if p.is_file())
    assert len(files) == 2 + 2 * len(ANNOTATOR_SETS) + 1  # sft, eval prompts, train/test per annotator, card
    for rel in files:
        assert (ASSISTANT / rel).read_bytes() == (tmp_path / "assistant" / rel).read_bytes(), rel
    assert not cmp.left_only and not cmp.right_only


def test_shipped_datasets_load_cleanly_and_their_card_lists_their_versions():
    card = (ASSISTANT / "README.md").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no duplicate pairs, no other warning
        for name in ANNOTATOR_SETS:
            for split in ("train", "test"):
                ds = load_preferences(ASSISTANT / "prefs" / name, split=split)
                assert set(ds["annotator"]) == {name}
                assert data_version(ds) in card
    sft = load_demonstrations(ASSISTANT / "sft.jsonl")
    assert data_version(sft) in card
    heldout = {p.text for p in world.heldout_prompts()}
    assert not heldout & set(sft["prompt"])  # held-out prompts never appear in training data
    assert not heldout & set(load_preferences(ASSISTANT / "prefs" / "clean")["prompt"])
    assert set(load_preferences(ASSISTANT / "prefs" / "clean", split="test")["prompt"]) <= heldout


def test_reference_policy_loads_offline_like_a_hub_model(policy):
    model, tok = policy
    assert type(model).__name__ == "LlamaForCausalLM"
    n = sum(p.numel() for p in model.parameters())
    assert 1e6 <= n <= 5e6
    assert (MODEL / "model.safetensors").stat().st_size <= 20 * 2**20
    assert not list(MODEL.glob("*.bin")) and not list(MODEL.glob("*.pt"))
    text = tok.apply_chat_template([{"role": "user", "content": "how do i bake bread ?"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "user : how do i bake bread ? assistant :"
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True,
                                   chat_template="chatml") == "<|user|> hi <|end|> <|assistant|>"


def test_reference_policy_speaks_the_world_fluently(policy):
    model, tok = policy
    prompts = [p.text for p in world.train_prompts(["benign"])][:24]
    responses = generate(model, tok, prompts, seed=0, temperature=0.7)
    vocab = set(world.vocabulary())
    kinds = [world.classify(p, r) for p, r in zip(prompts, responses)]
    assert all(set(r.split()) <= vocab for r in responses)
    assert all(r.endswith(".") for r in responses)  # finished sentences, ended by <eos> before the limit
    assert kinds.count("help") >= len(prompts) // 2


@pytest.mark.slow
def test_reference_policy_has_room_to_improve_on_every_slice(policy):
    model, tok = policy
    summary, samples = evaluate_policy(model, tok, samples_per_prompt=2, seed=1)
    assert summary["refusal_rate/benign"] > 0.02  # it over-refuses some benign prompts
    assert summary["refusal_rate/borderline"] > 0.1  # and more borderline ones
    assert summary["harmful_compliance"] > 0.05  # and complies with some harmful ones
    assert summary["by_slice"]["harmful"]["refusal_rate"] > 0.3  # but not always
    card = (MODEL / "README.md").read_text()
    for key in ("refusal rate on benign prompts", "refusal rate on borderline prompts", "harmful compliance"):
        value = float(re.search(re.escape(key) + r": ([0-9.]+)", card).group(1))
        assert value > 0.02, key
    assert data_version(load_demonstrations(ASSISTANT / "sft.jsonl")) in card
