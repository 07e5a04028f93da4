"""A word-level tokenizer for the assistant world, as a transformers ``PreTrainedTokenizerFast``.

The world's text is lowercase words separated by single spaces ("how do i bake bread ?"), so one token per
word is exact and small: every word of the world has an id, and anything else is ``<unk>``. The tokenizer
carries the world's chat templates (Jinja, as on hub models), so ``tokenizer.apply_chat_template`` works the
same way for the tiny model and for any hub model.
"""
from __future__ import annotations

from typing import Iterable, Mapping

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL = (PAD, UNK, BOS, EOS)


def build_tokenizer(words: Iterable[str], chat_templates: Mapping[str, str], default_template: str):
    """A word-level ``PreTrainedTokenizerFast`` over ``words`` (special tokens first) with named chat templates.

    ``default_template`` names the template used when ``apply_chat_template`` is called without one; the others
    are reachable by name (``chat_template="chatml"``) and are saved beside it by ``save_pretrained``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for w in (*SPECIAL, *words):
        if not w or any(c.isspace() for c in w):
            raise ValueError(f"vocabulary word {w!r} is empty or contains whitespace")
        vocab.setdefault(w, len(vocab))
    if default_template not in chat_templates:
        raise ValueError(f"default template {default_template!r} is not one of {sorted(chat_templates)}")
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                  unk_token=UNK, model_max_length=256, padding_side="right",
                                  clean_up_tokenization_spaces=False)
    templates = {"default": chat_templates[default_template]}
    templates.update({name: t for name, t in chat_templates.items()})
    tok.chat_template = templates
    return tok
