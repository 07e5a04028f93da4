"""The same pairs and model through TRL 1.16's DPOTrainer, with the settings that make it agree with prefkit.

Labs 4 and 6 use it; ``benchmarks/dpo_vs_trl.py`` is the timed version. What must line up (read from
trl/trainer/dpo_trainer.py and dpo_config.py, 1.16.0):

- token ids: TRL gets a *standard* dataset whose prompt is already rendered with the chat template and whose
  responses start with a space; TRL appends ``eos_token`` itself, as prefkit scores " <eos>" after a response;
- order: TRL samples batches at random unless ``train_sampling_strategy="sequential"``, so feed it the pairs in
  the order prefkit's ``BatchOrder`` would draw them;
- numerics: TRL's config turns bf16 on by default, which changes every log-prob: set ``bf16=False`` for parity
  (and keep it on for speed on a GPU); AdamW, constant learning rate, no warmup, no weight decay, clip 1.0.
"""
from __future__ import annotations

import copy
import os
import tempfile
from typing import Sequence

from ..models import render_prompt


def trl_rows(tokenizer, dataset, order: Sequence[int] | None = None, template: str = "default") -> list[dict]:
    """prefkit preference rows -> TRL's standard format (rendered prompt, responses with a leading space)."""
    order = range(len(dataset)) if order is None else order
    return [{"prompt": render_prompt(tokenizer, dataset[i]["prompt"], template),
             "chosen": " " + dataset[i]["chosen"].strip(), "rejected": " " + dataset[i]["rejected"].strip()}
            for i in order]


def trl_config(output_dir: str | None = None, *, steps: int, batch_size: int, lr: float, beta: float,
               max_length: int = 128, seed: int = 0, bf16: bool = False, use_cpu: bool | None = None, **overrides):
    """A ``trl.DPOConfig`` whose optimizer, schedule, order and precision match prefkit's ``DPOConfig``."""
    from trl import DPOConfig

    if use_cpu is None:
        import torch

        use_cpu = not torch.cuda.is_available()
    settings = dict(output_dir=output_dir or tempfile.mkdtemp(prefix="trl-"), per_device_train_batch_size=batch_size,
                    max_steps=steps, learning_rate=lr, lr_scheduler_type="constant", warmup_steps=0,
                    optim="adamw_torch", weight_decay=0.0, max_grad_norm=1.0, beta=beta, loss_type="sigmoid",
                    max_length=max_length, bf16=bf16, fp16=False, use_cpu=use_cpu, gradient_checkpointing=False,
                    logging_steps=1, report_to="none", save_strategy="no", disable_tqdm=True, seed=seed,
                    train_sampling_strategy="sequential", dataloader_num_workers=0)
    settings.update(overrides)
    return DPOConfig(**settings)


def trl_dpo(policy, tokenizer, rows: list[dict], config, ref=None):
    """Train a copy of ``policy`` with TRL's DPOTrainer; returns ``(trainer, logged rows)``, one row per step.

    ``ref`` is the frozen reference (default: TRL's own copy of the starting policy). Quiet: no per-step dicts.
    """
    import datasets
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    datasets.disable_progress_bars()  # TRL maps the dataset three times; the bars would be the cell's output
    trainer = DPOTrainer(model=copy.deepcopy(policy), ref_model=ref, args=config,
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return trainer, [h for h in trainer.state.log_history if "loss" in h]


__all__ = ["trl_rows", "trl_config", "trl_dpo"]
