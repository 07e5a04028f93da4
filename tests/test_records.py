"""Run records and checkpoints: the chat template's text and hash in run.json, optimizer state only where a resume
needs it, every trainer under LoRA, and `prefkit eval`'s default reference."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch
from datasets import Dataset

from prefkit.data import load_preferences
from prefkit.models import load_policy, load_reward_model
from prefkit.models.chat_template import template_record
from prefkit.models.load import default_reference
from prefkit.train import SFTConfig, TrainResult, train_sft
from prefkit.train.reward import RewardConfig, train_reward
from prefkit.train.rl import RLConfig, train_rl
from prefkit.worlds import assistant as world

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
TINY = dict(progress=False, warmup_steps=0, log_every=1, steps=2)


@pytest.fixture(scope="module")
def demos():
    rows = world.demonstrations(16, seed=0)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["response"]} for r in rows])


@pytest.fixture(scope="module")
def pairs():
    return load_preferences("data/assistant/prefs/clean", "train[:16]")


def _sft(tmp_path, demos, **kw) -> TrainResult:
    cfg = SFTConfig(output_dir=str(tmp_path), batch_size=8, eval_samples_per_prompt=0, **{**TINY, **kw})
    return train_sft(cfg, dataset=demos)


def test_run_json_records_the_chat_templates_text_and_hash(tmp_path, demos):
    result = _sft(tmp_path, demos, template="chatml")
    record = result.run.read_record()
    _, tok = load_policy("assistant-sft")
    text = tok.chat_template["chatml"]
    assert record["template"] == "chatml"
    assert record["chat_template"] == {"name": "chatml", "text": text,
                                       "sha256": hashlib.sha256(text.encode()).hexdigest()}
    assert template_record(tok, "default")["sha256"] != record["chat_template"]["sha256"]


def test_optimizer_state_is_saved_only_for_a_run_meant_to_be_resumed(tmp_path, demos):
    plain = _sft(tmp_path / "plain", demos).run.path / "checkpoint"
    assert (plain / "model.safetensors").exists() and not (plain / "optimizer.pt").exists()
    asked = _sft(tmp_path / "asked", demos, save_optimizer=True).run.path / "checkpoint"
    assert (asked / "optimizer.pt").exists()
    resumable = _sft(tmp_path / "resumable", demos, steps=4, save_every=2).run.path / "checkpoint"
    assert (resumable / "optimizer.pt").exists()
    assert SFTConfig(save_every=2, save_optimizer=False).keeps_optimizer() is False


def test_resuming_a_checkpoint_without_optimizer_state_says_so(tmp_path, demos):
    result = _sft(tmp_path, demos)
    run_dir = str(result.run.path)
    # the run kept no optimizer state (save_every=0, no resume planned); resuming it with the same config warns
    assert not (result.run.path / "checkpoint" / "optimizer.pt").exists()
    with pytest.warns(UserWarning, match="no optimizer.pt"):
        train_sft(SFTConfig(output_dir=str(tmp_path), run_dir=run_dir, resume=True, batch_size=8, eval_samples_per_prompt=0,
                      **TINY), dataset=demos)


def test_reward_model_trains_with_lora_and_loads_back(tmp_path, pairs):
    cfg = RewardConfig(output_dir=str(tmp_path), batch_size=8, lora_r=4, eval_split=None, lr=1e-2, **TINY)
    result = train_reward(cfg, dataset=pairs)
    model, history = result.model, result.history
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    ckpt = result.run.path / "checkpoint"
    assert (ckpt / "adapter_model.safetensors").exists()
    reloaded, tok = load_reward_model(ckpt)
    from prefkit.train.scoring import reward_fn

    prompts, responses = pairs["prompt"][:4], pairs["chosen"][:4]
    np_trained = reward_fn(model.eval(), tok)(prompts, responses)
    np_reloaded = reward_fn(reloaded.eval(), tok)(prompts, responses)
    assert np_trained == pytest.approx(np_reloaded, abs=1e-4)


def test_rl_trains_with_lora(tmp_path):
    cfg = RLConfig(output_dir=str(tmp_path), batch_size=8, num_generations=4, max_new_tokens=16, lora_r=4, lr=1e-2,
                   eval_samples_per_prompt=0, **TINY)
    result = train_rl(cfg)
    model, history = result.model, result.history
    assert len(history) == 2 and (result.run.path / "checkpoint" / "adapter_model.safetensors").exists()
    policy, _ = load_policy(result.run.path / "checkpoint")
    assert type(policy).__name__ == "LlamaForCausalLM"


def test_eval_defaults_to_the_model_a_run_started_from(tmp_path, demos):
    result = _sft(tmp_path, demos)
    ckpt = result.run.path / "checkpoint"
    _, tok = load_policy(ckpt)
    assert default_reference(ckpt, tok) == json.loads((ckpt.parent / "run.json").read_text())["base_model"]
    assert default_reference("assistant-sft", tok) == "assistant-sft"  # the shipped vocabulary: the shipped policy


def test_eval_has_no_default_reference_for_a_model_with_another_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"<unk>": 0, "hello": 1, "world": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    other = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    assert default_reference(tmp_path / "not-a-run", other) is None


def test_recipes_fill_only_what_the_config_leaves_open(tmp_path, demos):
    from transformers import LlamaConfig, LlamaForCausalLM

    from prefkit.train import DPOConfig
    from prefkit.train.recipes import apply_recipe

    shipped, _ = load_policy("assistant-sft")
    cfg, name = apply_recipe(DPOConfig(), shipped, "dpo")  # the course's values: its stored numbers stay as they are
    assert (name, cfg.lr, cfg.eval_samples_per_prompt) == ("course", 3e-4, 4)
    assert apply_recipe(RLConfig(), shipped, "rl")[0].lr == 3e-4 and apply_recipe(SFTConfig(), shipped, "sft")[0].lr == 1e-3
    big = LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=384, intermediate_size=1024, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=4))
    cfg, name = apply_recipe(DPOConfig(), big, "dpo")
    assert (name, cfg.lr, cfg.eval_samples_per_prompt) == ("pretrained", 1e-6, 0)  # TRL 1.16's DPOConfig default
    assert apply_recipe(DPOConfig(lora_r=8), big, "dpo")[0].lr == pytest.approx(1e-5)
    assert apply_recipe(SFTConfig(lora_r=8), big, "sft")[0].lr == pytest.approx(2e-4)  # 10 x 2e-5, at the cap
    kept, _ = apply_recipe(DPOConfig(lr=5e-6, eval_samples_per_prompt=1), big, "dpo")
    assert (kept.lr, kept.eval_samples_per_prompt) == (5e-6, 1)
    result = _sft(tmp_path, demos)
    record = result.run.read_record()
    assert record["recipe"] == "course" and record["config"]["lr"] == 1e-3


def test_trl_defaults_are_what_the_pretrained_recipe_says():
    import trl

    from prefkit.train.recipes import PRETRAINED

    trl_lr = {"sft": trl.SFTConfig, "reward": trl.RewardConfig, "dpo": trl.DPOConfig, "rl": trl.RLOOConfig}
    for name, cls in trl_lr.items():
        field = {f.name: f for f in __import__("dataclasses").fields(cls)}["learning_rate"]
        assert PRETRAINED.lr[name] == field.default, name


def test_sft_trains_with_lora_and_the_checkpoint_loads_back(tmp_path, demos):
    result = _sft(tmp_path, demos, lora_r=4, lr=1e-2)
    model, ckpt = result.model, result.run_dir / "checkpoint"
    assert (ckpt / "adapter_model.safetensors").exists() and not (ckpt / "model.safetensors").exists()
    merged, tok = load_policy(ckpt)
    from prefkit.models import score_responses

    prompts, completions = demos["prompt"][:4], demos["completion"][:4]
    torch.testing.assert_close(score_responses(merged, tok, prompts, completions),
                               score_responses(model.eval(), tok, prompts, completions), rtol=0, atol=1e-4)


def test_every_trainer_returns_one_result_that_points_at_its_run_directory(tmp_path, demos, pairs):
    """sft, reward, dpo, rl and best-of-n: one TrainResult whose history is metrics.jsonl, whose run is the folder
    with run.json and the checkpoint, and whose model is the trained one, in eval mode."""
    from prefkit.train import BestOfNConfig, DPOConfig, best_of_n, gold_reward_fn, train_dpo

    common = dict(steps=2, log_every=1, progress=False)
    results = {
        "sft": train_sft(SFTConfig(output_dir=str(tmp_path / "sft"), batch_size=8, eval_samples_per_prompt=0,
                                   **common), dataset=demos),
        "reward": train_reward(RewardConfig(output_dir=str(tmp_path / "rm"), batch_size=8, eval_split=None, **common),
                               dataset=pairs),
        "dpo": train_dpo(DPOConfig(output_dir=str(tmp_path / "dpo"), batch_size=8, eval_samples_per_prompt=0,
                                   **common), dataset=pairs),
        "rl": train_rl(RLConfig(output_dir=str(tmp_path / "rl"), batch_size=8, num_generations=4, max_new_tokens=8,
                                on_truncate="drop", eval_samples_per_prompt=0, **common))}
    for name, result in results.items():
        assert isinstance(result, TrainResult), name
        assert result.run_dir == result.run.path and (result.run_dir / "checkpoint").is_dir(), name
        assert result.history == result.run.read_metrics() and [r["step"] for r in result.history] == [1, 2], name
        assert result.read_record()["status"] == "finished" and result.read_record()["policy_version"].endswith("@step2"), name
        assert not result.model.training and result.read_eval() == {}, name  # eval_samples_per_prompt=0: no eval.json
        assert not hasattr(result.model, "prefkit_run"), name
    policy, tok = load_policy("assistant-sft")
    prompts = [p.text for p in world.heldout_prompts()][:3]
    bon = best_of_n(BestOfNConfig(n=2, output_dir=str(tmp_path / "bon")), policy, tok, reward_fn=gold_reward_fn(),
                    prompts=prompts)
    assert isinstance(bon, TrainResult) and bon.history == [] and bon.model is policy
    assert bon.read_eval()["samples"] == bon.samples and bon.report["run_dir"] == str(bon.run_dir)
    assert bon.read_record()["reward"] == "gold"
