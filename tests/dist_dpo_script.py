"""A few tiny DPO steps, launched by tests/test_distributed.py with one process or with torchrun (2 processes).

    python tests/dist_dpo_script.py OUT_DIR
    python -m torch.distributed.run --nproc_per_node 2 --master_addr 127.0.0.1 ... tests/dist_dpo_script.py OUT_DIR

Every rank runs the same code; the main process writes OUT_DIR/history.json (the logged rows, averaged over
ranks by the loop) next to the run directory.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(out: Path) -> None:
    from accelerate import PartialState

    from prefkit.data import load_preferences
    from prefkit.models import load_policy
    from prefkit.train import DPOConfig, train_dpo

    out.mkdir(parents=True, exist_ok=True)
    policy, tok = load_policy("assistant-sft")
    pairs = load_preferences("data/assistant/prefs/clean", "train[:48]")
    cfg = DPOConfig(steps=4, batch_size=8, grad_accum=1, lr=5e-3, warmup_steps=0, log_every=1, seed=3,
                    eval_samples_per_prompt=0, progress=False, output_dir=str(out / "runs"),
                    cache_dir=str(out / "cache"))
    history = train_dpo(cfg, model=policy, tokenizer=tok, dataset=pairs).history
    state = PartialState()
    if state.is_main_process:
        (out / "history.json").write_text(json.dumps({"world_size": state.num_processes, "history": history}))
    state.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
