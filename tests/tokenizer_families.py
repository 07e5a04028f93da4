"""Three tokenizer families of hub models, built offline with the ``tokenizers`` library (nothing downloaded).

gpt2    byte-level BPE with ``<|endoftext|>`` as BOS, EOS and pad, no chat template (as GPT-2); ``gpt2_chat``
        adds a Zephyr-style template whose turns end with the EOS token
llama   a SentencePiece-style BPE (Metaspace, ``▁word``) whose post-processor prepends ``<s>``, with a Llama-2 ``[INST]``
        chat template that writes ``{{ bos_token }}`` itself
chatml  byte-level BPE with ``<|im_start|>`` / ``<|im_end|>`` special tokens and a ChatML template (the format
        of SmolLM2-Instruct and Qwen: turns end with ``<|im_end|>`` and a newline); EOS is ``<|im_end|>``

The BPE merges are learned from a small fixed corpus, so the tokens are real multi-character merges and
spaces attach to the following word (``Ġword``, ``▁word``), as on the hub.
"""
from __future__ import annotations

import functools

CORPUS = [
    "What color is the sky? It is blue. The sky is blue because of Rayleigh scattering.",
    "How do I bake bread? Mix flour and water, knead the dough, let it rise, and bake it.",
    "You are a helpful assistant. Answer briefly and politely.",
    "Sorry, I cannot help with that. Here is what I can do instead.",
    "how do i bake bread ? sure . first mix the flour and water . then knead the dough .",
    "Tell me a joke. Why did the chicken cross the road? To get to the other side!",
    "Write a short poem about the sea. The sea is wide, the sea is deep, the waves roll in.",
] * 20

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""A ChatML template in the style of SmolLM2-Instruct's: a default system turn when none is given."""

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
"""Llama-2-chat's template: BOS before every user turn, ``[INST] ... [/INST]``, answers closed by ``</s>``."""

ZEPHYR_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
"""A Zephyr-style template: role headers as plain text, every turn closed by the EOS token."""


def _byte_level_bpe(special: list[str], vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


@functools.lru_cache(maxsize=None)
def _build(family: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if family in ("gpt2", "gpt2_chat"):
        core = _byte_level_bpe(["<|endoftext|>"])
        tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                      pad_token="<|endoftext|>")
        if family == "gpt2_chat":
            tok.chat_template = ZEPHYR_TEMPLATE
        return tok
    if family == "chatml":
        core = _byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                      pad_token="<|im_end|>", unk_token="<|endoftext|>",
                                      additional_special_tokens=["<|im_start|>", "<|im_end|>"])
        tok.chat_template = CHATML_TEMPLATE
        return tok
    if family == "llama":
        core = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
        core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        alphabet = [chr(c) for c in range(32, 127)] + ["\n"]
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                      initial_alphabet=alphabet)
        core.train_from_iterator(CORPUS, trainer)
        core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                            special_tokens=[("<s>", core.token_to_id("<s>"))])
        tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                      pad_token="</s>")
        tok.chat_template = LLAMA2_TEMPLATE
        return tok
    raise ValueError(f"unknown tokenizer family {family!r}")


def build_family(family: str):
    """A fresh copy of the tokenizer of ``family`` (gpt2, gpt2_chat, llama, chatml)."""
    import copy

    return copy.deepcopy(_build(family))


FAMILIES = ("gpt2", "gpt2_chat", "llama", "chatml")
