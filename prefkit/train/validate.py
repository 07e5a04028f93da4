"""One check of a trainer config before anything is created: every field's type and range.

Each config class declares the range of its fields in a plain class attribute ``RULES`` (a dict, not a dataclass
field), merged along the class hierarchy; ``validate`` checks the type of every field from its annotation and
then its rule. The first bad field raises ``ConfigError`` with one line naming the flag, the value and what is
allowed, e.g.

    --warmup-steps -5: warmup_steps must be an integer >= 0

``prefkit <trainer> --help`` prints the same ``allowed`` text beside every flag (``describe``).
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from typing import Any, Iterable


class ConfigError(ValueError):
    """A config value a run cannot start with; the message names the flag, the value and what is allowed."""

    @classmethod
    def field(cls, name: str, value: Any, allowed: str) -> "ConfigError":
        return cls(f"{flag(name)} {shown(value)}: {name} must be {allowed}")


def flag(name: str) -> str:
    """The command-line flag of a config field: ``warmup_steps`` -> ``--warmup-steps``."""
    return "--" + name.replace("_", "-")


def shown(value: Any) -> str:
    """A value as a user would type it: ``none``, ``-5``, ``inf``, ``'bf16'``."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return " ".join(shown(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------------------------------ rules
@dataclasses.dataclass(frozen=True)
class Int:
    """An integer in [lo, hi] (either bound may be open-ended)."""
    lo: int | None = None
    hi: int | None = None
    optional: bool = False

    def ok(self, v) -> bool:
        if v is None:
            return self.optional
        return (isinstance(v, int) and not isinstance(v, bool) and (self.lo is None or v >= self.lo)
                and (self.hi is None or v <= self.hi))

    @property
    def allowed(self) -> str:
        text = "an integer" + _bounds(self.lo, self.hi, False, False)
        return text + (", or none" if self.optional else "")


@dataclasses.dataclass(frozen=True)
class Real:
    """A finite number in the interval given by lo/hi; ``open_lo``/``open_hi`` exclude the bound itself."""
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    optional: bool = False

    def ok(self, v) -> bool:
        if v is None:
            return self.optional
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        above = self.lo is None or (v > self.lo if self.open_lo else v >= self.lo)
        below = self.hi is None or (v < self.hi if self.open_hi else v <= self.hi)
        return above and below

    @property
    def allowed(self) -> str:
        text = "a finite number" + _bounds(self.lo, self.hi, self.open_lo, self.open_hi)
        return text + (", or none" if self.optional else "")


@dataclasses.dataclass(frozen=True)
class OneOf:
    """One of the listed names."""
    choices: tuple
    optional: bool = False

    def ok(self, v) -> bool:
        return v in self.choices or (v is None and self.optional)

    @property
    def allowed(self) -> str:
        names = ", ".join(str(c) for c in self.choices) + (", none" if self.optional else "")
        return f"one of {names}"


@dataclasses.dataclass(frozen=True)
class Text:
    """A non-empty string (a name); with ``path=True`` also an ``os.PathLike`` (a file, a folder)."""
    optional: bool = False
    path: bool = False

    def ok(self, v) -> bool:
        if v is None:
            return self.optional
        if self.path and isinstance(v, os.PathLike):
            v = os.fspath(v)
        return isinstance(v, str) and bool(v.strip())

    @property
    def allowed(self) -> str:
        return ("a non-empty path" if self.path else "a non-empty text") + (", or none" if self.optional else "")


@dataclasses.dataclass(frozen=True)
class PromptSet:
    """A named prompt set of the assistant world (``splits``) or a data file of prompts (one of ``suffixes``)."""
    splits: tuple
    suffixes: tuple

    def ok(self, v) -> bool:
        return isinstance(v, str) and (v in self.splits or v.endswith(self.suffixes))

    @property
    def allowed(self) -> str:
        return f"one of {', '.join(self.splits)}, or a data file ({', '.join(self.suffixes)})"


NAME, PATH = Text(), Text(path=True)
OPTIONAL_NAME, OPTIONAL_PATH = Text(optional=True), Text(optional=True, path=True)

DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


@dataclasses.dataclass(frozen=True)
class Device:
    """A torch device name: cpu, cuda, cuda:N, mps, or none for the best available."""

    def ok(self, v) -> bool:
        return v is None or (isinstance(v, str) and DEVICE.fullmatch(v) is not None)

    @property
    def allowed(self) -> str:
        return "one of cpu, cuda, cuda:N (a GPU index), mps, or none (cuda when available, else cpu)"


def _bounds(lo, hi, open_lo, open_hi) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"
    if lo is not None:
        return f" {'>' if open_lo else '>='} {lo}"
    if hi is not None:
        return f" {'<' if open_hi else '<='} {hi}"
    return ""


# ------------------------------------------------------------------------------------------- checking
def rules(cls) -> dict:
    """The merged ``RULES`` of a config class and its bases (a subclass's rule wins)."""
    out: dict = {}
    for klass in reversed(getattr(cls, "__mro__", (cls,))):
        out.update(vars(klass).get("RULES", {}))
    return out


def describe(cls, name: str) -> str | None:
    """What field ``name`` of ``cls`` allows, for ``--help``; None when it has no rule."""
    rule = rules(cls).get(name)
    return rule.allowed if rule is not None else None


def _type_ok(value, annotation) -> bool:
    """Whether ``value`` has the annotated type (``int``, ``float | None``, ``tuple``, ...)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, (str, os.PathLike))  # a path field may hold a Path; its rule says which do
    if annotation is bool:
        return isinstance(value, bool)
    if origin is tuple or annotation is tuple:
        return isinstance(value, tuple)
    return True  # an annotation this check does not model (a Path, a callable): left to the code that uses it


def _type_name(annotation) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    names = {int: "an integer", float: "a number", str: "a text", bool: "true or false"}
    text = " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in args)
    return text + (", or none" if type(None) in typing.get_args(annotation) else "")


def validate(cfg) -> None:
    """Raise ``ConfigError`` for the first field of the dataclass ``cfg`` whose type or range is wrong."""
    hints = typing.get_type_hints(type(cfg))
    checks = rules(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in hints and not _type_ok(value, hints[f.name]):
            raise ConfigError.field(f.name, value, _type_name(hints[f.name]))
        rule = checks.get(f.name)
        if rule is not None and not rule.ok(value):
            raise ConfigError.field(f.name, value, rule.allowed)


def require(condition: bool, names: Iterable[str], cfg, message: str) -> None:
    """A check across fields: raise ``ConfigError`` naming every flag involved when ``condition`` is false."""
    if not condition:
        flags = " ".join(f"{flag(n)} {shown(getattr(cfg, n))}" for n in names)
        raise ConfigError(f"{flags}: {message}")


# ------------------------------------------------------------------------------------------- templates
def template_names(tokenizer) -> list[str]:
    """The chat template names ``tokenizer`` knows ('default' first); [] when it has no chat template."""
    templates = getattr(tokenizer, "chat_template", None)
    if isinstance(templates, dict):
        return ["default"] + sorted(k for k in templates if k != "default")
    return ["default"] if templates else []


def check_template(tokenizer, name: str | None, field: str = "template") -> None:
    """Raise ``ConfigError`` when ``name`` is not a chat template of ``tokenizer``.

    Without this check transformers takes an unknown name for the text of a Jinja template, so every prompt
    would become that literal word. None (no template: the prompt as-is) and literal Jinja text pass, and so
    does 'default' on a tokenizer without a chat template: it then means the plain format (prefkit.models.encoding).
    """
    if name is None or "{{" in name or "{%" in name:
        return
    names = template_names(tokenizer)
    if not names and name == "default":
        return
    if name not in names:
        allowed = f"one of {', '.join(names)}" if names else "none (this tokenizer has no chat template)"
        raise ConfigError(f"{flag(field)} {shown(name)}: unknown chat template; {field} must be {allowed}")


__all__ = ["ConfigError", "Int", "Real", "OneOf", "Text", "Device", "NAME", "PATH", "OPTIONAL_NAME", "OPTIONAL_PATH",
           "rules", "describe", "validate", "require", "template_names", "check_template", "flag", "shown"]
