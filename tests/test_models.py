"""Tokenizer, tiny LM, loading by path, log-probs of responses, sampling."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefkit.models import (build_tiny_lm, build_tokenizer, encode_responses, generate, load_policy,
                            load_reward_model, render_prompt, score_responses, sequence_logps, tiny_llama_config)
from prefkit.worlds import assistant as world


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(world.vocabulary(), world.TEMPLATES, default_template="plain")


@pytest.fixture(scope="module")
def model(tok):
    cfg = tiny_llama_config(len(tok), hidden=64, layers=2, heads=2, pad_token_id=tok.pad_token_id,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return build_tiny_lm(cfg, seed=0).eval()


PROMPTS = ["how do i bake bread ?", "how do i kill a python process ?", "how do i make a weapon ?"]
RESPONSES = ["sure . first mix the flour and water .", "sorry , i can not help with that .",
             "sorry , i can not help with that ."]


def test_tokenizer_is_word_level_with_chat_templates(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "how do i bake bread ?"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "user : how do i bake bread ? assistant :"
    chatml = render_prompt(tok, "how do i bake bread ?", template="chatml")
    assert chatml == "<|user|> how do i bake bread ? <|end|> <|assistant|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text.split()) and tok.unk_token_id not in ids
    assert tok.decode(ids) == text
    for p in world.all_prompts():  # every prompt of the world is covered by the vocabulary
        assert tok.unk_token_id not in tok(p.text, add_special_tokens=False)["input_ids"], p.text


def test_response_mask_covers_response_and_eos_only(tok):
    batch = encode_responses(tok, PROMPTS[:1], RESPONSES[:1])
    ids, mask = batch["input_ids"][0], batch["response_mask"][0]
    scored = tok.convert_ids_to_tokens(ids[mask.bool()].tolist())
    assert scored == RESPONSES[0].split() + ["<eos>"]


def test_sequence_logps_equal_with_left_and_right_padding(tok, model):
    right = encode_responses(tok, PROMPTS, RESPONSES, padding_side="right")
    left = encode_responses(tok, PROMPTS, RESPONSES, padding_side="left")
    assert right["attention_mask"][:, -1].min() == 0 and left["attention_mask"][:, 0].min() == 0  # padded
    with torch.no_grad():
        a = sequence_logps(model, **right)
        b = sequence_logps(model, **left)
        one = torch.cat([sequence_logps(model, **encode_responses(tok, [p], [r])) for p, r in zip(PROMPTS, RESPONSES)])
    assert a.dtype == torch.float32 and a.shape == (3,)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, one, atol=1e-5, rtol=1e-5)


def test_sequence_logps_is_the_sum_of_response_token_logprobs(tok, model):
    batch = encode_responses(tok, PROMPTS[:1], RESPONSES[:1])
    with torch.no_grad():
        logits = model(batch["input_ids"]).logits[0].float()
        total, ids, mask = 0.0, batch["input_ids"][0], batch["response_mask"][0]
        for t in range(1, len(ids)):
            if mask[t]:
                total += torch.log_softmax(logits[t - 1], -1)[ids[t]].item()
        got = sequence_logps(model, **batch)
        mean = sequence_logps(model, **batch, average=True)
    assert got.item() == pytest.approx(total, abs=1e-4)
    assert mean.item() == pytest.approx(total / int(mask.sum()), abs=1e-5)


def test_generate_is_seeded_and_batched(tok, model):
    a = generate(model, tok, PROMPTS * 2, seed=3, max_new_tokens=8)
    b = generate(model, tok, PROMPTS * 2, seed=3, max_new_tokens=8)
    c = generate(model, tok, PROMPTS * 2, seed=4, max_new_tokens=8)
    assert a == b and a != c and len(a) == 6
    assert all(len(r.split()) <= 8 for r in a)
    greedy_batched = generate(model, tok, PROMPTS, temperature=0, max_new_tokens=6)
    greedy_single = [generate(model, tok, [p], temperature=0, max_new_tokens=6)[0] for p in PROMPTS]
    assert greedy_batched == greedy_single  # left padding does not change what the model says
    with pytest.raises(ValueError, match="bad decoder settings"):
        generate(model, tok, PROMPTS, top_p=0)


def test_save_and_load_by_path_through_auto_classes(tok, model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    policy, tok2 = load_policy(tmp_path / "m")
    assert type(policy).__name__ == "LlamaForCausalLM"
    assert render_prompt(tok2, "how do i bake bread ?", "chatml") == render_prompt(tok, "how do i bake bread ?", "chatml")
    with torch.no_grad():
        torch.testing.assert_close(score_responses(policy, tok2, PROMPTS, RESPONSES),
                                   score_responses(model, tok, PROMPTS, RESPONSES))
    rm, _ = load_reward_model(tmp_path / "m")
    assert rm.config.num_labels == 1 and rm.config.pad_token_id == tok.pad_token_id
    out = rm(**tok2(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)).logits
    assert out.shape == (3, 1)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m").config.vocab_size == len(tok)
    assert AutoTokenizer.from_pretrained(tmp_path / "m").eos_token == "<eos>"


def test_unknown_model_name_fails_offline():
    with pytest.raises(OSError):
        load_policy("prefkit-nobody/no-such-model")
