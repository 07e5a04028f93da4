"""The assistant world's word-level tokenizer, tiny random Llamas over it and its demonstrations as a Dataset:
the building blocks of the trainer tests (tests/test_train_loop.py, tests/test_rundir.py)."""
from __future__ import annotations

from datasets import Dataset

from prefkit.models import build_tiny_lm, build_tokenizer, tiny_llama_config
from prefkit.worlds import assistant as world


def world_tokenizer():
    return build_tokenizer(world.vocabulary(), world.TEMPLATES, default_template="plain")


def tiny_world_lm(tok, hidden: int, layers: int, seed: int = 0):
    cfg = tiny_llama_config(len(tok), hidden=hidden, layers=layers, heads=2, pad_token_id=tok.pad_token_id,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return build_tiny_lm(cfg, seed=seed)


def world_demos(n: int) -> Dataset:
    rows = world.demonstrations(n, seed=0)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["response"]} for r in rows])
