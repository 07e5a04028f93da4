"""The GPU path, tested on CPU: local hub-style folders, LoRA adapters, gradient checkpointing."""
from __future__ import annotations

import pytest
import torch

from prefkit.models import (build_tiny_lm, encode_responses, load_policy, prepare_for_training, sequence_logps,
                            tiny_llama_config, trainable_parameters)
from prefkit.worlds import assistant as world

pytest.importorskip("peft")

PROMPTS = ["how do i bake bread ?", "how do i make a weapon ?"]
RESPONSES = ["sure . first mix the flour and water .", "sorry , i can not help with that ."]


def _fresh(tmp_path):
    """A model saved with save_pretrained to a local folder, loaded back through the hub-loading code."""
    model, tok = load_policy("assistant-sft")
    model.save_pretrained(tmp_path / "hub-like")
    tok.save_pretrained(tmp_path / "hub-like")
    return load_policy(str(tmp_path / "hub-like"))


def test_lora_trains_only_the_adapters(tmp_path):
    model, tok = _fresh(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model = prepare_for_training(model, lora_r=4)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < 0.2 * total
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = encode_responses(tok, PROMPTS, RESPONSES)
    for _ in range(3):
        loss = -sequence_logps(model, **batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.state_dict()
    changed = {k for k, v in after.items() if "lora_" in k and not torch.equal(v, torch.zeros_like(v))}
    assert any("lora_B" in k for k in changed)  # B starts at zero: a non-zero B means the adapters learned
    base = {k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in after.items()
            if "lora_" not in k}
    for name, value in before.items():
        assert torch.equal(base[name], value), f"{name} changed under LoRA"


def test_gradient_checkpointing_gives_the_same_gradients():
    from prefkit.models import build_tokenizer

    tok = build_tokenizer(world.vocabulary(), world.TEMPLATES, "plain")
    cfg = tiny_llama_config(len(tok), hidden=64, layers=2, heads=2, pad_token_id=tok.pad_token_id)
    batch = encode_responses(tok, PROMPTS, RESPONSES)
    grads = []
    for ckpt in (False, True):
        model = prepare_for_training(build_tiny_lm(cfg, seed=0), gradient_checkpointing=ckpt)
        model.train()
        (-sequence_logps(model, **batch).sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_local_folder_keeps_its_chat_templates(tmp_path):
    _, tok = _fresh(tmp_path)
    msgs = [{"role": "system", "content": "you are a helpful assistant ."},
            {"role": "user", "content": "how do i bake bread ?"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                   chat_template="chatml").startswith("<|system|> you are a helpful assistant .")


@pytest.mark.slow
def test_gpu_benchmark_script_runs_tiny_on_cpu(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_dpo_bench.py"), "--tiny", "--device", "cpu",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = [json.loads(p.read_text()) for p in tmp_path.glob("gpu_dpo_tiny-*.json")]
    assert result["tokens_per_s"] > 0 and result["flops_per_token"] > 0 and result["final_loss"] > 0
    assert (root / "benchmarks" / "gpu_check.sh").stat().st_mode & 0o111  # executable


def test_trainer_config_switches_on_lora_and_checkpointing(tmp_path):
    """``lora_r`` and ``gradient_checkpointing`` in a trainer config: the adapters train, the checkpoint holds
    only them, and load_policy gives back the merged model with the trained model's log-probs."""
    from prefkit.core import DATA_DIR
    from prefkit.data import load_preferences
    from prefkit.train import DPOConfig, train_dpo
    from prefkit.train.loop import CHECKPOINT

    torch.set_num_threads(1)
    prefs = str(DATA_DIR / "assistant" / "prefs" / "clean")
    pairs = load_preferences(prefs, "train[:32]")
    base, tok = load_policy("assistant-sft")
    cfg = DPOConfig(data=prefs, steps=3, batch_size=8, lr=1e-2, warmup_steps=0, log_every=1, lora_r=4,
                    gradient_checkpointing=True, eval_samples_per_prompt=0, progress=False,
                    output_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    result = train_dpo(cfg, model=base, tokenizer=tok, dataset=pairs)
    model, history = result.model, result.history
    assert history[-1]["loss"] < history[0]["loss"]  # step 1 is log 2: only the adapters can have moved it
    ckpt = result.run.path / CHECKPOINT
    assert (ckpt / "adapter_model.safetensors").exists() and not (ckpt / "model.safetensors").exists()
    merged, _ = load_policy(ckpt)
    batch = encode_responses(tok, PROMPTS, RESPONSES)
    model.eval()
    with torch.no_grad():
        trained, reloaded = sequence_logps(model, **batch), sequence_logps(merged, **batch)
        start = sequence_logps(load_policy("assistant-sft")[0], **batch)
    torch.testing.assert_close(reloaded, trained, rtol=0, atol=1e-4)
    assert (trained - start).abs().max() > 1e-3  # the adapters moved the policy


def test_dtype_field_is_checked():
    from prefkit.train import DPOConfig

    assert DPOConfig(dtype="bfloat16").torch_dtype() == torch.bfloat16 and DPOConfig().torch_dtype() is None
    with pytest.raises(ValueError, match="dtype must be"):
        DPOConfig(dtype="bf16").torch_dtype()
