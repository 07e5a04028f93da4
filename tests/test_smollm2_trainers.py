"""Every trainer, best-of-n and ``prefkit eval`` on SmolLM2-135M-Instruct with TRL's conversational data, full and
LoRA, through the CLI: a few steps on short sequences, a run record that names the model, its chat template and
the data version, and checkpoints that load back with ``load_policy`` and with ``AutoModelForCausalLM``.

The conversational files (system turns, multi-turn prompts) are those of tests/test_encoding_trainers.py.
"""
from __future__ import annotations

import json

import pytest
import torch

from prefkit.cli import main
from prefkit.models import load_policy
from test_encoding_trainers import data  # noqa: F401  (the conversational data files, a module fixture)
from test_smollm2 import ALIAS, folder  # noqa: F401  (the installed model, a module fixture)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.mark.parametrize("lora", [0, 8], ids=["full", "lora"])
def test_every_trainer_runs_on_smollm2_with_conversational_data(folder, data, tmp_path, capsys, lora):  # noqa: F811
    out = str(tmp_path / "runs")
    common = ["--output-dir", out, "--steps", "2", "--batch-size", "2", "--no-progress", "--log-every", "1",
              "--warmup-steps", "0", "--lora-r", str(lora)]

    def run(args) -> dict:
        assert main(args) == 0
        line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("run directory:")][-1]
        path = line.split(":", 1)[1].strip()
        return {"path": path, "record": json.loads(open(f"{path}/run.json").read())}

    def check_record(rec: dict, name: str) -> None:
        record = rec["record"]
        assert str(folder) in json.dumps(record) or ALIAS in json.dumps(record), f"{name}: the model is not named"
        template = record["chat_template"]
        assert "<|im_start|>" in template["text"] and len(template["sha256"]) == 64, name
        assert record["data_version"].startswith("pd-"), name
        assert record["status"] == "finished", name

    sft = run(["sft", "--model", ALIAS, "--data", data["sft"], "--max-length", "96",
               "--eval-samples-per-prompt", "0", *common])
    check_record(sft, "sft")
    reward = run(["reward", "--model", ALIAS, "--data", data["prefs"], "--max-length", "96", *common])
    check_record(reward, "reward")
    dpo = run(["dpo", "--model", ALIAS, "--data", data["explicit"], "--max-length", "96",
               "--eval-samples-per-prompt", "0", "--cache-dir", str(tmp_path / "cache"), *common])
    check_record(dpo, "dpo")
    rows = [json.loads(line) for line in open(f"{dpo['path']}/metrics.jsonl")]
    assert len(rows) == 2 and all(abs(r["loss"] - 0.6931) < 0.1 for r in rows)  # starts at log 2, moves a little
    rl = run(["rl", "--model", ALIAS, "--reward-model", f"{reward['path']}/checkpoint", "--prompts", data["prompts"],
              "--num-generations", "2", "--max-new-tokens", "6", "--eval-samples-per-prompt", "0", *common])
    check_record(rl, "rl")
    assert main(["bon", "--policy", ALIAS, "--reward-model", f"{reward['path']}/checkpoint", "--prompts",
                 data["prompts"], "--n", "2", "--samples-per-prompt", "1", "--max-new-tokens", "6",
                 "--output-dir", out]) == 0
    bon_dir = capsys.readouterr().out.split("run directory:")[-1].strip()
    assert len(json.loads(open(f"{bon_dir}/eval.json").read())["samples"]) == 8  # one pick for each of 8 prompts
    ev = run(["eval", "--model", f"{dpo['path']}/checkpoint", "--prompts", data["prompts"],
              "--samples-per-prompt", "1", "--max-new-tokens", "6", "--output-dir", out])
    result = json.loads(open(f"{ev['path']}/eval.json").read())
    assert len(result["samples"]) == 8

    # checkpoints load back, through prefkit and through transformers alone, with the trained weights
    from transformers import AutoModelForCausalLM

    base, tok = load_policy(ALIAS)
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        before = base(ids).logits
        for name in ("sft", "dpo"):
            ckpt = f"{locals()[name]['path']}/checkpoint"
            mine, _ = load_policy(ckpt)
            theirs = AutoModelForCausalLM.from_pretrained(ckpt)
            a, b = mine.eval()(ids).logits, theirs.eval()(ids).logits
            assert torch.allclose(a, b, atol=1e-4), name
            assert not torch.allclose(a, before, atol=1e-6), f"{name}: the checkpoint holds the untrained model"
