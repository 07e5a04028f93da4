"""Reference log-probs log pi_ref(y|x), computed once per (data version, reference model) and cached on disk.

pi_ref is frozen, so log pi_ref(y_w|x) and log pi_ref(y_l|x) of every training pair never change during a DPO
run: computing them once before training removes the reference forward pass from every step (TRL's
``precompute_ref_log_probs``). The values are kept in ``$PREFKIT_CACHE/ref_logps`` (default
``~/.cache/prefkit/ref_logps``) under a key made of everything they depend on:

    key = hash(data version, hash of the reference model (weights AND config), chat template,
               logps mode ("sum" or "mean"), precision of the forward pass (fp32 or the autocast dtype),
               hash of the token ids actually scored (covers tokenizer and max_length))

so a relabelled dataset, another reference model (other weights, or the same weights under another
``rms_norm_eps`` or ``rope_theta``), template, mode or precision gets its own entry and a stale value is never
read. Files are safetensors, written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch

from ..core import atomic_write_bytes, cache_root


# config fields that name or date a model without changing what it computes
_CONFIG_LABELS = ("_name_or_path", "_model_name_or_path", "name_or_path", "transformers_version", "_commit_hash")


def config_fields(model) -> dict:
    """The model's config as a dict, without the fields that only label it (its path, library version)."""
    config = getattr(model, "config", None)
    if config is None:
        return {}
    return {k: v for k, v in config.to_dict().items() if k not in _CONFIG_LABELS}


def module_hash(model) -> str:
    """A content hash of a model: its config (every field but labels: rms_norm_eps, rope_theta, ...) and its
    weights (names, dtypes, shapes and values): ``"w-<16 hex>"``. Two models with equal hashes compute the same
    function, so their log-probs may share a cache entry."""
    h = hashlib.sha256()
    h.update(json.dumps(config_fields(model), sort_keys=True, default=str).encode() + b"\n")
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "w-" + h.hexdigest()[:16]


def tensors_hash(tensors: dict[str, torch.Tensor]) -> str:
    """A content hash of named integer tensors (the token ids and masks that will be scored)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu", torch.int64).contiguous()
        h.update(f"{name}|{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(data_version: str, ref_hash: str, template: str | None, logps: str, ids_hash: str,
              precision: str = "fp32") -> tuple[str, dict]:
    """``(key, fields)``: the file name stem and the fields it was made from (kept in the file's metadata)."""
    fields = {"data_version": data_version, "reference": ref_hash, "template": str(template), "logps": logps,
              "token_ids": ids_hash, "precision": precision}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]
    return f"ref-{digest}", fields


def load_cached(path: Path, fields: dict) -> dict[str, torch.Tensor] | None:
    """The cached tensors at ``path`` if it exists and was made from exactly ``fields``; else None."""
    if not path.exists():
        return None
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if json.loads(meta.get("fields", "null")) != fields:
            return None
        return load_file(str(path))
    except Exception as exc:  # a damaged cache file is recomputed, never trusted
        warnings.warn(f"{path}: unreadable reference log-prob cache ({exc}); recomputing it")
        return None


def save_cached(path: Path, tensors: dict[str, torch.Tensor], fields: dict) -> Path:
    from safetensors.torch import save

    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()},
                metadata={"fields": json.dumps(fields, sort_keys=True)})
    return atomic_write_bytes(path, data)


def cached_reference_logps(compute, *, data_version: str, ref_hash: str, template: str | None, logps: str,
                           ids: dict[str, torch.Tensor], cache_dir: str | os.PathLike | None = None,
                           write: bool = True, precision: str = "fp32") -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, info)``: the cached reference log-probs, or ``compute()`` 's result, stored for next time.

    compute() -> {"ref_chosen_logps": (N,), "ref_rejected_logps": (N,)}, computed in ``precision`` ("fp32", or
    the autocast dtype the policy's forward pass runs under, e.g. "bf16"). ``info`` says where the entry lives,
    its key fields and whether it was a cache ``hit``. ``write=False`` reads but never writes (non-main ranks).
    """
    key, fields = cache_key(data_version, ref_hash, template, logps, tensors_hash(ids), precision)
    path = cache_root(cache_dir) / "ref_logps" / f"{key}.safetensors"
    cached = load_cached(path, fields)
    if cached is not None:
        return cached, {"path": str(path), "hit": True, **fields}
    tensors = compute()
    if write:
        save_cached(path, tensors, fields)
    return tensors, {"path": str(path), "hit": False, **fields}


__all__ = ["cache_root", "config_fields", "module_hash", "tensors_hash", "cache_key", "cached_reference_logps"]
