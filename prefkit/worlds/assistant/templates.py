"""Chat templates of the assistant world, as Jinja strings in the format Hugging Face tokenizers use.

Use them as on any hub model::

    text = tokenizer.apply_chat_template(messages, chat_template=TEMPLATES["chatml"],
                                         add_generation_prompt=True, tokenize=False)

Every template renders the system, user and assistant roles as whitespace-separated words of the world's
vocabulary (one word-level token each). The generation prompt ends with the assistant marker and no
end-of-sequence token; the response follows after one space and the tokenizer appends ``eos_token``. A past
assistant turn renders the same way (``... <|assistant|> sure . first ... <eos>``), so a rendered conversation
is exactly "generation prompt + response + eos": the text SFT trains on and the text evaluation scores.

Train on one template and evaluate on another to see template overfit (docs/design.md, The course).
"""
from __future__ import annotations


def _template(system: str, user: str, assistant: str, user_end: str = "") -> str:
    """A one-line Jinja template: role markers, trimmed content, turns separated by single spaces."""
    end = f" {user_end}" if user_end else ""
    return (
        "{% for message in messages %}"
        "{% if not loop.first %} {% endif %}"
        "{% if message['role'] == 'system' %}" + system + " {{ message['content'] | trim }}" + end +
        "{% elif message['role'] == 'user' %}" + user + " {{ message['content'] | trim }}" + end +
        "{% elif message['role'] == 'assistant' %}" + assistant + " {{ message['content'] | trim }}"
        "{% if eos_token is defined and eos_token %} {{ eos_token }}{% endif %}"
        "{% else %}{{ raise_exception('the assistant world templates render system, user and assistant "
        "messages only, not ' ~ message['role']) }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{% if messages %} {% endif %}" + assistant + "{% endif %}"
    )


TEMPLATES: dict[str, str] = {
    # user : how do i bake bread ? assistant :
    "plain": _template("system :", "user :", "assistant :"),
    # <|user|> how do i bake bread ? <|end|> <|assistant|>
    "chatml": _template("<|system|>", "<|user|>", "<|assistant|>", user_end="<|end|>"),
    # question : how do i bake bread ? answer :
    "qa": _template("context :", "question :", "answer :"),
}
"""Named chat templates. "plain" is the training default; "chatml" and "qa" test template overfit."""

TEMPLATE_WORDS = ("system", "user", "assistant", ":", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
                  "context", "question", "answer")
"""The words templates add around message contents (the tokenizer's eos_token aside)."""

__all__ = ["TEMPLATES", "TEMPLATE_WORDS"]
