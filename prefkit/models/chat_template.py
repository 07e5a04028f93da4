"""What a run record says about the chat template: its name, its Jinja text and that text's hash.

A template's name ("default") says nothing once a tokenizer changes; the text and its SHA-256 say exactly which
rendering produced the training sequences, so two runs are comparable when their hashes are equal.
"""
from __future__ import annotations

import hashlib


def template_text(tokenizer, template: str | None = "default") -> str | None:
    """The Jinja text that ``render_prompt(tokenizer, ..., template)`` renders with; None for no template, and for
    "default" on a tokenizer without a chat template (the plain format of prefkit.models.encoding).

    ``template`` is a name of the tokenizer's templates ("default", "chatml", ...) or a Jinja string itself.
    """
    if template is None:
        return None
    templates = tokenizer.chat_template
    if isinstance(templates, dict):
        if template in templates:
            return templates[template]
        if template == "default":
            raise ValueError(f"the tokenizer has named chat templates {sorted(templates)} but none called 'default'")
        return template  # not a name: a Jinja string passed as the template
    if template == "default":
        return templates or None
    return template


def template_record(tokenizer, template: str | None = "default") -> dict:
    """``{"name", "sha256", "text"}`` of the template a run renders prompts with (all None without one)."""
    text = template_text(tokenizer, template)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None
    return {"name": template, "sha256": digest, "text": text}


__all__ = ["template_text", "template_record"]
