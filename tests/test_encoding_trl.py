"""prefkit's encoder gives TRL 1.16's token ids, pair for pair, on three tokenizer families built offline and on
SmolLM2-135M-Instruct's own tokenizer.

The reference is TRL's own preprocessing: ``DPOTrainer``, ``SFTTrainer`` and ``RewardTrainer`` are built on a
tiny random Llama model (from a config, offline) and their ``_prepare_dataset`` tokenizes the same pairs.
Standard pairs go through TRL as standard data when the tokenizer has no chat template (TRL's plain
``prompt + response + eos``) and as the equivalent conversation when it has one (prefkit renders a string
prompt as one user turn and a string response as one assistant turn). Conversational pairs carry a system
turn and a multi-turn prompt; implicit prompts go through both libraries' prompt extraction.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from tokenizer_families import build_family

from prefkit.data import validate_records
from prefkit.models import EncodingStats, encode_responses, tokenize_rows
from prefkit.train.pairs import encode_pairs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

SYSTEM = {"role": "system", "content": "You are brief."}
STANDARD = [
    {"prompt": "What color is the sky?", "chosen": " It is blue.", "rejected": " It is green."},
    {"prompt": "How do I bake bread?", "chosen": " Mix flour and water, then bake it.", "rejected": " Sorry, I cannot."},
]
CONVERSATIONAL = [
    {"prompt": [SYSTEM, {"role": "user", "content": "What color is the sky?"}],
     "chosen": [{"role": "assistant", "content": "It is blue."}],
     "rejected": [{"role": "assistant", "content": "It is green."}]},
    {"prompt": [{"role": "user", "content": "Tell me a joke."},
                {"role": "assistant", "content": "Why did the chicken cross the road?"},
                {"role": "user", "content": "Why?"}],
     "chosen": [{"role": "assistant", "content": "To get to the other side!"}],
     "rejected": [{"role": "assistant", "content": "I do not know."}]},
    {"prompt": [SYSTEM, {"role": "user", "content": "How do I bake bread?"},
                {"role": "assistant", "content": "Mix flour and water."}, {"role": "user", "content": "Then?"}],
     "chosen": [{"role": "assistant", "content": "Knead the dough, let it rise, and bake it."}],
     "rejected": [{"role": "assistant", "content": "Sorry, I cannot help with that."}]},
]
IMPLICIT = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in CONVERSATIONAL]
CHAT_FAMILIES = ("gpt2_chat", "llama", "chatml")


def as_conversation(row: dict) -> dict:
    """The conversational twin of a standard row: one user turn, one assistant turn."""
    return {"prompt": [{"role": "user", "content": row["prompt"].strip()}],
            **{k: [{"role": "assistant", "content": row[k].strip()}] for k in ("chosen", "rejected")}}


def tiny_llama(tok, reward=False):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, LlamaConfig

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=tok.pad_token_id, num_labels=1)
    torch.manual_seed(0)
    return (AutoModelForSequenceClassification if reward else AutoModelForCausalLM).from_config(cfg)


def _tokenizer(family: str):
    """A tokenizer family of tests/tokenizer_families.py, or SmolLM2-135M-Instruct's own tokenizer ("smollm2"),
    from the installed model (tests/test_smollm2.py installs it; skips or, under PREFKIT_REQUIRE_MODEL=1, fails
    where it cannot)."""
    if family != "smollm2":
        return build_family(family)
    from transformers import AutoTokenizer

    from prefkit.models.catalog import installed_path
    from test_smollm2 import unavailable

    path = installed_path("smollm2-135m")
    if path is None:
        unavailable("smollm2-135m is not installed: run `prefkit models get smollm2-135m` (make model)")
    return AutoTokenizer.from_pretrained(path)


class TRL:
    """TRL 1.16's three trainers on one tokenizer; ``dpo``, ``sft`` and ``reward`` tokenize datasets with them."""

    def __init__(self, family: str, tmp):
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer

        self.tok = _tokenizer(family)
        common = dict(output_dir=str(tmp), report_to=[], max_length=None, use_cpu=True, save_strategy="no")
        seed = Dataset.from_list(STANDARD)
        self._dpo = DPOTrainer(model=tiny_llama(self.tok), ref_model=tiny_llama(self.tok), args=DPOConfig(**common),
                               train_dataset=seed,
                               processing_class=self.tok)
        sft_seed = Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in STANDARD])
        self._sft = SFTTrainer(model=tiny_llama(self.tok), args=SFTConfig(**common), train_dataset=sft_seed,
                               processing_class=self.tok)
        self._reward = RewardTrainer(model=tiny_llama(self.tok, reward=True), args=RewardConfig(**common),
                                     train_dataset=seed, processing_class=self.tok)

    def dpo(self, rows):
        from datasets import Dataset

        t = self._dpo
        return t._prepare_dataset(Dataset.from_list(rows), self.tok, t.args, "test")

    def sft(self, rows):
        from datasets import Dataset
        from trl.data_utils import extract_prompt

        t = self._sft
        rows = [r if "prompt" in r else extract_prompt(r) for r in rows]  # SFT data has explicit prompts
        data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows])
        return t._prepare_dataset(data, self.tok, t.args, False, None, "test")

    def reward(self, rows):
        from datasets import Dataset

        t = self._reward
        return t._prepare_dataset(Dataset.from_list(rows), self.tok, t.args, "test")


@pytest.fixture(scope="module", params=("gpt2", *CHAT_FAMILIES, "smollm2"))
def trl(request, tmp_path_factory):
    from accelerate.state import AcceleratorState

    yield TRL(request.param, tmp_path_factory.mktemp(request.param))
    AcceleratorState._reset_state(reset_partial_state=True)  # TRL's trainers set it up; prefkit's own come next


def unpadded(batch, prefix=""):
    """[(ids, response start)] of each row of an encoded batch (right padding)."""
    out = []
    for ids, att, resp in zip(batch[f"{prefix}input_ids"], batch[f"{prefix}attention_mask"],
                              batch[f"{prefix}response_mask"]):
        n = int(att.sum())
        out.append((ids[:n].tolist(), int(resp[:n].argmax())))
    return out


def assert_matches_trl(trl, prefkit_rows, trl_rows):
    """prefkit's pair encoding of ``prefkit_rows`` equals TRL's DPO, SFT and reward tokenization of ``trl_rows``."""
    data = validate_records(list(enumerate(prefkit_rows, start=1)), "test")
    enc = encode_pairs(trl.tok, data["prompt"], data["chosen"], data["rejected"])
    chosen, rejected = unpadded(enc, "chosen_"), unpadded(enc, "rejected_")
    dpo = trl.dpo(trl_rows)
    assert [ids[:n] for ids, n in chosen] == dpo["prompt_ids"] == [ids[:n] for ids, n in rejected]
    assert [ids[n:] for ids, n in chosen] == dpo["chosen_ids"]
    assert [ids[n:] for ids, n in rejected] == dpo["rejected_ids"]
    reward = trl.reward(trl_rows)
    assert [ids for ids, _ in chosen] == reward["chosen_ids"]
    assert [ids for ids, _ in rejected] == reward["rejected_ids"]
    sft = trl.sft(trl_rows)
    solo = unpadded(encode_responses(trl.tok, data["prompt"], data["chosen"]))
    assert [ids for ids, _ in solo] == sft["input_ids"]
    assert [[-100] * n + ids[n:] for ids, n in solo] == sft["labels"]  # TRL's completion-only loss mask
    # the end-of-turn token closes every response, and nothing is appended after what the template renders
    assert all(trl.tok.eos_token_id in ids[n:] for ids, n in chosen + rejected)


@pytest.mark.slow  # TRL's three trainers per tokenizer: about 15 s with the first import
def test_standard_pairs(trl):
    rows = STANDARD if trl.tok.chat_template is None else [as_conversation(r) for r in STANDARD]
    assert_matches_trl(trl, STANDARD, rows)


@pytest.mark.slow  # TRL's three trainers per tokenizer: about 15 s with the first import
def test_standard_pairs_without_the_leading_space(trl):
    no_space = [{**r, "chosen": r["chosen"].lstrip(), "rejected": r["rejected"].lstrip()} for r in STANDARD]
    rows = STANDARD if trl.tok.chat_template is None else [as_conversation(r) for r in STANDARD]
    assert_matches_trl(trl, no_space, rows)


@pytest.mark.slow  # TRL's three trainers per tokenizer: about 15 s with the first import
def test_conversational_pairs_with_system_turns_and_multi_turn_prompts(trl):
    if trl.tok.chat_template is None:
        with pytest.raises(ValueError, match="needs a chat template"):
            encode_pairs(trl.tok, [CONVERSATIONAL[0]["prompt"]], [CONVERSATIONAL[0]["chosen"]],
                         [CONVERSATIONAL[0]["rejected"]])
        return
    assert_matches_trl(trl, CONVERSATIONAL, CONVERSATIONAL)


@pytest.mark.slow  # TRL's three trainers per tokenizer: about 15 s with the first import
def test_conversational_pairs_with_an_implicit_prompt(trl):
    if trl.tok.chat_template is None:
        pytest.skip("conversational data needs a chat template (checked above)")
    assert_matches_trl(trl, IMPLICIT, IMPLICIT)


def test_the_old_plain_join_differs_from_trl_on_bpe():
    """What the encoder before this one built (text + sep + response + " " + eos) is not what TRL trains on."""
    tok = build_family("gpt2")
    row = STANDARD[0]
    old = tok(row["prompt"] + row["chosen"] + " " + tok.eos_token)["input_ids"]
    new = unpadded(encode_responses(tok, [row["prompt"]], [row["chosen"]]))[0][0]
    assert new == tok(row["prompt"] + row["chosen"] + tok.eos_token)["input_ids"]
    assert old != new and tok.convert_ids_to_tokens(old)[-2] == "Ġ"  # a space token before EOS


def test_prompt_that_is_not_a_token_prefix_starts_the_response_where_they_diverge():
    tok = build_family("gpt2")
    prompt = "The sky is "  # its trailing space merges into the response's first token ("Ġblue")
    stats = EncodingStats()
    with pytest.warns(UserWarning, match="not a prefix"):
        rows = tokenize_rows(tok, [prompt], ["blue"], stats=stats)
    ids, n = rows[0]
    p_ids = tok(prompt)["input_ids"]
    assert ids == tok(prompt + "blue" + tok.eos_token)["input_ids"] and "Ġblue" in tok.convert_ids_to_tokens(ids)
    assert ids[:n] == p_ids[:n] and n < len(p_ids)  # TRL's common_prefix_length
    assert stats.prompt_not_prefix == 1 and stats.rows == 1


@pytest.mark.parametrize("family", CHAT_FAMILIES)
def test_truncation_is_counted_and_reports_a_lost_end_of_turn(family):
    tok = build_family(family)
    data = validate_records(list(enumerate(CONVERSATIONAL, start=1)), "test")
    full = tokenize_rows(tok, data["prompt"], data["chosen"])
    n_prompt, n_full = full[0].n_prompt, len(full[0].ids)
    end = max(i for i in range(len(full[0].ids)) if full[0].ids[i] in tok.all_special_ids)  # end-of-turn token
    stats = EncodingStats()
    batch = encode_responses(tok, data["prompt"][:1] * 3, data["chosen"][:1] * 3, max_length=n_full, stats=stats)
    assert stats.truncated == 0 and stats.rows == 3 and stats.longest == n_full
    stats = EncodingStats()
    cut = encode_responses(tok, data["prompt"][:1], data["chosen"][:1], max_length=end, stats=stats)
    assert {"rows": 1, "truncated": 1, "lost_end_of_turn": 1, "prompt_not_prefix": 0, "longest": n_full,
            "max_length": end}.items() <= stats.as_dict().items()
    assert cut["input_ids"].shape[1] == end and int(cut["response_mask"].sum()) == end - n_prompt
    stats = EncodingStats()
    encode_responses(tok, data["prompt"][:1], data["chosen"][:1], max_length=end + 1, stats=stats)
    assert stats.truncated == (end + 1 < n_full) and stats.lost_end_of_turn == 0  # the end-of-turn token kept
    with pytest.raises(ValueError, match="does not fit max_length"):
        encode_responses(tok, data["prompt"][:1], data["chosen"][:1], max_length=n_prompt)
    assert batch["input_ids"].shape == (3, n_full)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a template that renders the prompt as a prefix gives no warning
        tokenize_rows(tok, data["prompt"], data["rejected"])
