"""Every trainer, best-of-n and ``prefkit eval`` on a BPE chat model with TRL's conversational data, and RL
scoring exactly the token ids it sampled.

The model is a tiny random Llama over the ChatML byte-level BPE tokenizer of ``tokenizer_families`` (turns end
with ``<|im_end|>``), saved to a folder so the CLI loads it by path like any hub model. The data are the
assistant world's prompts and responses in TRL's conversational format, with system turns and multi-turn
prompts, explicit and implicit.
"""
from __future__ import annotations

import json

import pytest
import torch
from tokenizer_families import build_family

from prefkit.cli import main
from prefkit.core import DATA_DIR
from prefkit.models import DecoderConfig, load_policy, sample_ids, sequence_logps
from prefkit.train.rl import RLConfig, rollout
from prefkit.worlds import assistant as world

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SYSTEM = {"role": "system", "content": "You are a careful assistant."}


def _tiny(tok):
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """(folder, model, tokenizer) of a tiny random ChatML Llama."""
    tok = build_family("chatml")
    model = _tiny(tok)
    folder = tmp_path_factory.mktemp("chatml-llama")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, model.eval(), tok


def _turns(prompt: str, i: int) -> list:
    """A world prompt as a conversation: after a system turn (even i) or as the second user turn (odd i)."""
    if i % 2 == 0:
        return [SYSTEM, {"role": "user", "content": prompt}]
    return [{"role": "user", "content": "hello ."}, {"role": "assistant", "content": "hello . how can i help ?"},
            {"role": "user", "content": prompt}]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Conversational data files made from the shipped assistant data."""
    root = tmp_path_factory.mktemp("conversational")
    pairs = [json.loads(line) for line in (DATA_DIR / "assistant/prefs/clean/train.jsonl").read_text().splitlines()]

    def conv(rows, offset=0):
        return [{"prompt": _turns(r["prompt"], i + offset), "slice": r["slice"],
                 **{k: [{"role": "assistant", "content": r[k]}] for k in ("chosen", "rejected")}}
                for i, r in enumerate(rows)]

    (root / "prefs").mkdir()
    explicit = _write(root / "prefs" / "train.jsonl", conv(pairs[:16]))
    _write(root / "prefs" / "test.jsonl", conv(pairs[16:24], 1))
    implicit = _write(root / "implicit.jsonl", [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]}
                                                 for r in conv(pairs[:16])])
    sft = _write(root / "sft.jsonl", [{"messages": r["prompt"] + r["chosen"]} for r in conv(pairs[:16])])
    prompts = _write(root / "prompts.jsonl", [{"prompt": _turns(p.text, i)}
                                              for i, p in enumerate(world.train_prompts()[:8])])
    return {"prefs": str(root / "prefs"), "explicit": explicit, "implicit": implicit, "sft": sft, "prompts": prompts,
            "root": root}


def test_rl_scores_exactly_the_tokens_it_sampled(chat_model):
    _, model, tok = chat_model
    prompts = [_turns(p.text, i) for i, p in enumerate(world.train_prompts()[:3])]
    cfg = RLConfig(num_generations=2, batch_size=6, max_new_tokens=12)
    responses, batch = rollout(model, tok, prompts, cfg, seed=5)
    repeated = [p for p in prompts for _ in range(2)]
    samples = sample_ids(model, tok, repeated, seed=5, decoder=cfg.decoder, batch_size=len(repeated))
    re_encoded = 0
    for i, s in enumerate(samples):
        n = int(batch["attention_mask"][i].sum())
        ids, mask = batch["input_ids"][i, :n].tolist(), batch["response_mask"][i, :n].bool().tolist()
        assert ids == s.prompt_ids + s.response_ids
        assert [t for t, m in zip(ids, mask) if m] == s.response_ids  # scored tokens == sampled tokens
        assert bool(batch["truncated"][i]) == (tok.eos_token_id not in s.response_ids)
        again = tok.apply_chat_template(repeated[i] + [{"role": "assistant", "content": responses[i]}])["input_ids"]
        re_encoded += again[len(s.prompt_ids):] != s.response_ids
    assert re_encoded > 0  # encoding the decoded text again gives other tokens: the old way scored those

    # the batch's log-probs are those of the sampled ids alone, each sequence unpadded
    with torch.no_grad():
        logps = sequence_logps(model, batch["input_ids"], batch["attention_mask"], batch["response_mask"])  # (B,)
        for i, s in enumerate(samples):
            logits = model(torch.tensor([s.prompt_ids + s.response_ids])).logits[0, len(s.prompt_ids) - 1:-1]
            want = logits.float().log_softmax(-1).gather(1, torch.tensor(s.response_ids)[:, None]).sum()
            assert logps[i].item() == pytest.approx(want.item(), abs=1e-4)


@pytest.mark.slow
def test_every_trainer_and_eval_run_on_conversational_data_through_the_cli(chat_model, data, tmp_path, capsys):
    folder, _, tok = chat_model
    out = str(tmp_path / "runs")
    common = ["--output-dir", out, "--steps", "2", "--batch-size", "4", "--no-progress", "--log-every", "1",
              "--max-length", "256"]

    def run(args) -> dict:
        assert main(args) == 0
        line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("run directory:")][-1]
        path = line.split(":", 1)[1].strip()
        return {"path": path, "record": json.loads(open(f"{path}/run.json").read())}

    sft = run(["sft", "--model", str(folder), "--data", data["sft"], "--eval-samples-per-prompt", "0", *common])
    assert sft["record"]["encoding"]["rows"] == 16 and sft["record"]["encoding"]["truncated"] == 0
    reward = run(["reward", "--model", str(folder), "--data", data["prefs"], *common])
    assert reward["record"]["encoding"]["rows"] == 32
    rm_eval = json.loads(open(f"{reward['path']}/eval.json").read())
    assert rm_eval["n"] == 8 and 0 <= rm_eval["accuracy"] <= 1 and "accuracy/gold" in rm_eval
    for source in ("explicit", "implicit"):
        dpo = run(["dpo", "--model", str(folder), "--data", data[source], "--eval-samples-per-prompt", "0",
                   "--cache-dir", str(tmp_path / "cache"), *common])
        assert dpo["record"]["encoding"]["rows"] == 32 and dpo["record"]["encoding"]["prompt_not_prefix"] == 0
        rows = [json.loads(l) for l in open(f"{dpo['path']}/metrics.jsonl")]
        assert len(rows) == 2 and all(abs(r["loss"]) < 10 for r in rows)
    rl = run(["rl", "--model", str(folder), "--reward-model", f"{reward['path']}/checkpoint", "--prompts",
              data["prompts"], "--num-generations", "2", "--max-new-tokens", "8", "--eval-samples-per-prompt", "0",
              *[a for a in common if a != "--max-length" and a != "256"]])
    assert rl["record"]["reward"].endswith("checkpoint")
    assert main(["bon", "--policy", str(folder), "--reward-model", f"{reward['path']}/checkpoint", "--prompts",
                 data["prompts"], "--n", "2", "--samples-per-prompt", "2", "--max-new-tokens", "6",
                 "--output-dir", out]) == 0
    bon_dir = capsys.readouterr().out.split("run directory:")[-1].strip()
    bon = json.loads(open(f"{bon_dir}/eval.json").read())
    assert len(bon["samples"]) == 16 and bon["samples"][0]["prompt"][0] == SYSTEM
    ev = run(["eval", "--model", f"{sft['path']}/checkpoint", "--ref", str(folder), "--prompts", data["prompts"],
              "--samples-per-prompt", "1", "--max-new-tokens", "6", "--output-dir", out])
    result = json.loads(open(f"{ev['path']}/eval.json").read())
    assert [s["prompt"] for s in result["samples"]] == [json.loads(l)["prompt"] for l in open(data["prompts"])]
    assert {s["slice"] for s in result["samples"]} <= set(world.SLICES) and "kl/k1" in result
    policy, _ = load_policy(f"{dpo['path']}/checkpoint")
    assert policy.config.vocab_size == len(tok)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "chatml"])
def test_sft_learns_to_end_its_answer_without_an_extra_space_token(family, tmp_path):
    """Trained on prompt + response + " " + eos, a BPE model learned to end every answer with a space token
    ("... . Ġ<|im_end|>"); now it ends exactly as its demonstrations do."""
    from datasets import Dataset

    from prefkit.train.sft import SFTConfig, train_sft

    tok = build_family(family)
    demos = [{"prompt": "What color is the sky?", "completion": " It is blue."},
             {"prompt": "How do I bake bread?", "completion": " Mix flour and water, then bake it."}]
    cfg = SFTConfig(steps=40, batch_size=8, lr=1e-2, warmup_steps=2, progress=False, eval_samples_per_prompt=0,
                    output_dir=str(tmp_path), log_every=10)
    result = train_sft(cfg, model=_tiny(tok), tokenizer=tok, dataset=Dataset.from_list(demos * 4))
    model, history = result.model, result.history
    assert history[-1]["loss"] < 1.0
    for demo, s in zip(demos, sample_ids(model, tok, [d["prompt"] for d in demos], temperature=0, max_new_tokens=24)):
        tokens = tok.convert_ids_to_tokens(s.response_ids)
        assert s.finished and tokens[-2] == "." and tokens[-1] == tok.eos_token, tokens
        assert tok.decode(s.response_ids, skip_special_tokens=True).strip() == demo["completion"].strip()
