"""DPO on the shipped tiny policy through prefkit and through TRL 1.16's DPOTrainer: speed and exact agreement.

Both trainers get the same model (data/models/assistant-sft, fp32, no dropout), the same pairs in the same
order, the same token ids, batch, beta, max length, optimizer (AdamW, constant lr, no warmup, clip 1.0) and
steps, so their loss curves must agree to 1e-4 step by step; the script checks it and exits non-zero if not.

Alignment with TRL (read from trl/trainer/dpo_trainer.py and dpo_config.py, 1.16.0):
- token ids: TRL gets a standard-format dataset whose prompt is already rendered with the chat template
  ("user : ... assistant :") and whose responses start with a space; TRL appends eos_token itself, prefkit
  scores " <eos>" after the response: both give prompt ids + response ids + eos (checked row by row).
- order: prefkit's seeded BatchOrder; TRL gets the pairs in that order and train_sampling_strategy="sequential".
- numerics: bf16=False (TRL's base config turns bf16 on by default), optim="adamw_torch", lr_scheduler "constant".
- TRL's defaults are kept where they do not change the math: its reference handling (a second model scored on
  every step; or precompute_ref_log_probs=True) and gradient_checkpointing=True (also timed without it).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dpo_vs_trl.py                 # 512 pairs, 16 steps of 32
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dpo_vs_trl.py --pairs 256 --repeats 1
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dpo_vs_trl.py --model smollm2-135m --threads 1

With ``--model smollm2-135m`` (SmolLM2-135M-Instruct, installed by ``prefkit models get smollm2-135m``) the pairs
are the same clean assistant pairs written as English sentences (``english``: capitals, no space before
punctuation), prompts rendered with the model's own chat template; TRL gets them as the equivalent conversation
(one user turn, one assistant turn), which gives the same token ids (tests/test_encoding_trl.py).

Timings are end to end (tokenization, reference pass, training; data and the policy already in memory), best of
--repeats runs interleaved across trainers, on whatever CPU runs this (say how many cores, and whether shared).
The CPU-time column is the process's user + system time (best of the repeats): on a shared machine, with
``--threads 1``, it measures the trainer's own work where wall time also measures the neighbours.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import sys
import tempfile
import time
import warnings

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


def prefkit_run(policy, tok, data, args, precompute: bool, tmp: str):
    from prefkit.train import DPOConfig, train_dpo

    cfg = DPOConfig(steps=args.steps, batch_size=args.batch, beta=args.beta, lr=args.lr, warmup_steps=0, decay=False,
                    max_grad_norm=1.0, max_length=args.max_length, seed=args.seed, log_every=1, progress=False,
                    precompute_ref=precompute, eval_samples_per_prompt=0, output_dir=os.path.join(tmp, "runs"),
                    cache_dir=tempfile.mkdtemp(dir=tmp))  # a cold cache: the reference pass is timed
    t0, c0 = time.perf_counter(), time.process_time()
    history = train_dpo(cfg, model=copy.deepcopy(policy), tokenizer=tok, dataset=data).history
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"total_s": total, "cpu_s": cpu, "loop_s": history[-1]["elapsed_s"], "losses": [h["loss"] for h in history]}


# per model: pairs, batch, learning rate (sized so that the comparison takes minutes on 2 CPU threads)
MODELS = {"assistant-sft": {"pairs": 512, "batch": 32, "lr": 2e-4},
          "smollm2-135m": {"pairs": 64, "batch": 8, "lr": 1e-5}}


def english(text: str) -> str:
    """The assistant world's word-level text as an English sentence: 'i will not help .' -> 'I will not help.'"""
    out = re.sub(r" ([.,?!:;])", r"\1", text.strip())
    out = re.sub(r"\bi\b", "I", out)
    return re.sub(r"(^|[.?!] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)


def trl_dataset(tok, data, order, template: str):
    from datasets import Dataset

    from prefkit.models import render_prompt
    from prefkit.models.encoding import uses_template

    if uses_template(tok, template):  # the equivalent conversation: TRL applies the same chat template
        rows = [{"prompt": [{"role": "user", "content": data[i]["prompt"].strip()}],
                 **{k: [{"role": "assistant", "content": data[i][k].strip()}] for k in ("chosen", "rejected")}}
                for i in order]
    else:
        rows = [{"prompt": render_prompt(tok, data[i]["prompt"], template), "chosen": " " + data[i]["chosen"].strip(),
                 "rejected": " " + data[i]["rejected"].strip()} for i in order]
    return Dataset.from_list(rows)


def trl_trainer(policy, tok, dataset, args, precompute: bool, checkpointing: bool, tmp: str):
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    cfg = DPOConfig(output_dir=os.path.join(tmp, "trl"), per_device_train_batch_size=args.batch, max_steps=args.steps,
                    learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch",
                    weight_decay=0.0, max_grad_norm=1.0, beta=args.beta, loss_type="sigmoid",
                    max_length=args.max_length, precompute_ref_log_probs=precompute, bf16=False, fp16=False,
                    use_cpu=True, gradient_checkpointing=checkpointing, logging_steps=1, report_to="none",
                    save_strategy="no", disable_tqdm=True, seed=args.seed, train_sampling_strategy="sequential",
                    dataloader_num_workers=0)
    trainer = DPOTrainer(model=copy.deepcopy(policy), args=cfg, train_dataset=dataset, processing_class=tok)
    trainer.remove_callback(PrinterCallback)  # no dict printed per step (prefkit prints nothing either)
    return trainer


def trl_run(policy, tok, dataset, args, precompute: bool, checkpointing: bool, tmp: str):
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = trl_trainer(policy, tok, dataset, args, precompute, checkpointing, tmp)
    out = trainer.train()
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"total_s": total, "cpu_s": cpu, "loop_s": out.metrics["train_runtime"], "losses": losses}


def check_token_ids(policy, tok, data, dataset, args, tmp: str) -> int:
    """TRL's prompt/chosen/rejected ids equal prefkit's, pair by pair; returns the number of pairs checked."""
    from prefkit.train.pairs import encode_pairs

    trainer = trl_trainer(policy, tok, dataset, args, precompute=False, checkpointing=False, tmp=tmp)
    ours = encode_pairs(tok, data["prompt"], data["chosen"], data["rejected"], max_length=args.max_length)
    for i, row in enumerate(trainer.train_dataset):
        k = row["_order"] if "_order" in row else i
        for side in ("chosen", "rejected"):
            ids = ours[f"{side}_input_ids"][k][ours[f"{side}_attention_mask"][k].bool()].tolist()
            n_prompt = int((ours[f"{side}_attention_mask"][k] - ours[f"{side}_response_mask"][k]).sum())
            theirs = row["prompt_ids"] + row[f"{side}_ids"]
            if ids != theirs or n_prompt != len(row["prompt_ids"]):
                raise SystemExit(f"pair {k} ({side}): token ids differ\n prefkit {ids} (prompt {n_prompt})\n"
                                 f" TRL     {theirs} (prompt {len(row['prompt_ids'])})")
    return len(trainer.train_dataset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="assistant-sft", choices=sorted(MODELS), help="policy (and reference)")
    ap.add_argument("--pairs", type=int, default=None, help="pairs from the start of the clean training split "
                    "(default: 512 for assistant-sft, 64 for smollm2-135m)")
    ap.add_argument("--batch", type=int, default=None, help="pairs per step (default: 32, or 8 for smollm2-135m)")
    ap.add_argument("--steps", type=int, default=None, help="default: one epoch (pairs / batch)")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=None, help="default: 2e-4, or 1e-5 for smollm2-135m")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per trainer (best is reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for k, v in MODELS[args.model].items():
        setattr(args, k, getattr(args, k) if getattr(args, k) is not None else v)
    args.steps = args.steps or args.pairs // args.batch
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    import numpy as np
    import trl

    from prefkit.core import seed_everything
    from prefkit.data import load_preferences
    from prefkit.models import load_policy
    from prefkit.train.loop import BatchOrder

    seed_everything(args.seed)
    policy, tok = load_policy(args.model)
    policy.float()
    data = load_preferences("data/assistant/prefs/clean", f"train[:{args.pairs}]")
    if args.model != "assistant-sft":  # a pretrained model reads English, not the world's word-level text
        data = data.map(lambda r: {k: english(r[k]) for k in ("prompt", "chosen", "rejected")})
    batches = BatchOrder(len(data), args.batch, args.seed)
    order = np.concatenate([batches(i) for i in range(args.steps)]).tolist()  # prefkit's order, fed to TRL
    dataset = trl_dataset(tok, data, order, "default").add_column("_order", order)
    tmp = tempfile.mkdtemp(prefix="dpo-vs-trl-")
    checked = check_token_ids(policy, tok, data, dataset, args, tmp)
    dataset = dataset.remove_columns("_order")

    runs = {"prefkit (precomputed ref, default)": lambda: prefkit_run(policy, tok, data, args, True, tmp),
            "prefkit (ref scored each step)": lambda: prefkit_run(policy, tok, data, args, False, tmp),
            "TRL default (ref each step, grad ckpt)": lambda: trl_run(policy, tok, dataset, args, False, True, tmp),
            "TRL precompute_ref_log_probs=True": lambda: trl_run(policy, tok, dataset, args, True, True, tmp),
            "TRL default, gradient_checkpointing=False": lambda: trl_run(policy, tok, dataset, args, False, False,
                                                                         tmp)}
    timed: dict[str, list[dict]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved: every trainer sees the same load pattern
        for name, fn in runs.items():
            timed[name].append(fn())
    results = {name: dict(min(rs, key=lambda r: r["total_s"]), best_cpu_s=min(r["cpu_s"] for r in rs))
               for name, rs in timed.items()}

    ref_losses = results["prefkit (precomputed ref, default)"]["losses"]
    pairs_trained = args.steps * args.batch
    print(f"DPO on {args.model}, {pairs_trained} pairs ({args.steps} steps of {args.batch}), beta {args.beta}, "
          f"lr {args.lr}, "
          f"torch {torch.__version__}, trl {trl.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; token ids identical on all {checked} pairs")
    print(f"{'trainer':44s}{'total s':>9s}{'CPU s':>8s}{'pairs/s':>9s}{'loop s':>8s}{'final loss':>12s}"
          f"{'max |dloss|':>13s}")
    worst = 0.0
    for name, r in results.items():
        diff = max(abs(a - b) for a, b in zip(r["losses"], ref_losses))
        if len(r["losses"]) != len(ref_losses):
            raise SystemExit(f"{name}: {len(r['losses'])} logged losses, expected {len(ref_losses)}")
        worst = max(worst, diff)
        r.update(pairs_per_s=pairs_trained / r["total_s"], max_loss_diff=diff)
        print(f"{name:44s}{r['total_s']:9.2f}{r['best_cpu_s']:8.2f}{r['pairs_per_s']:9.1f}{r['loop_s']:8.2f}"
              f"{r['losses'][-1]:12.6f}"
              f"{diff:13.2e}")
    ours = results["prefkit (precomputed ref, default)"]
    for name in [n for n in results if n.startswith("TRL")]:
        print(f"speed-up of prefkit (default) over {name}: {ours['pairs_per_s'] / results[name]['pairs_per_s']:.2f}x "
              f"wall, {results[name]['best_cpu_s'] / ours['best_cpu_s']:.2f}x CPU time")
    print(f"loss curves agree to {worst:.1e} (required: 1e-4); loss moved from {ref_losses[0]:.4f} to "
          f"{ref_losses[-1]:.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)
    if worst > 1e-4:
        raise SystemExit(f"loss curves differ by {worst:.2e} > 1e-4")


if __name__ == "__main__":
    sys.exit(main())
