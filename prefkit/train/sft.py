"""Supervised fine-tuning: maximize log pi(y|x) on demonstrations (x, y), prompt tokens masked.

SFT copies the demonstrator, mistakes included: the reference policy of the course is an SFT model, and
chapter 01 shows what it inherits (over-refusal, harmful compliance, rambling).
"""
from __future__ import annotations

from dataclasses import dataclass


from ..data import data_version, load_demonstrations, row_sources
from ..models import EncodingStats, collate_rows, load_policy, prepare_for_training, sequence_logps
from ..models.encoding import ON_TRUNCATE
from .config import TrainConfig
from .loop import BatchOrder, model_name, start_run, train_loop
from .pairs import encode_demonstrations
from .recipes import apply_recipe
from .result import TrainResult
from .start import begin, check_config, finish
from .validate import NAME, PATH, Int, OneOf


@dataclass
class SFTConfig(TrainConfig):
    data: str = "data/assistant/sft.jsonl"
    """Demonstrations: a prompt/completion or messages data file (strings or TRL's conversational format)."""
    model: str = "assistant-sft"
    """Model to start from: a shipped name, local path or hub name (ignored when a model object is passed)."""
    template: str = "default"
    """Chat template the prompts are rendered with (a name from the tokenizer's templates)."""
    max_length: int = 128
    """Truncate prompt+response to this many tokens."""
    eval_samples_per_prompt: int | None = None
    """Held-out evaluation at the end (eval.json): samples per held-out prompt; 0 skips it. None = the model's
    recipe: 2 for the course's models, 0 for pretrained ones."""
    on_truncate: str = "warn"
    """A response cut at max_length: 'warn' keeps it cut (one warning counts them, with the first file:line),
    'drop' removes the demonstration (counted in run.json 'encoding'), 'fail' stops with the file and line."""

    RULES = {"data": PATH, "model": PATH, "template": NAME, "max_length": Int(2),
             "eval_samples_per_prompt": Int(0, optional=True), "on_truncate": OneOf(ON_TRUNCATE)}


def sft_step(model, batch):
    """Mean negative log-likelihood per response token (the usual SFT loss)."""
    logps = sequence_logps(model, batch["input_ids"], batch["attention_mask"], batch["response_mask"])  # (B,)
    n_tokens = batch["response_mask"][:, 1:].sum()
    loss = -logps.sum() / n_tokens
    return loss, {"logps/completion": logps.mean().detach(), "num_tokens": n_tokens.float()}


def train_sft(config: SFTConfig, model=None, tokenizer=None, *, dataset=None) -> TrainResult:
    """Fine-tune on demonstrations (``dataset`` overrides ``config.data``); writes a run directory and returns
    the ``TrainResult``."""
    model, tokenizer = begin(config, model, tokenizer, lambda: load_policy(config.model, dtype=config.torch_dtype()))
    eval_setting, eval_prompts, _ = config.eval_plan(tokenizer)  # no reference: no implicit reward
    dataset = dataset if dataset is not None else load_demonstrations(config.data)
    config, recipe = apply_recipe(config, model, "sft")
    check_config(config, tokenizer)
    stats = EncodingStats()  # every demonstration is tokenized once, before the run starts; a batch only pads its rows
    rows = encode_demonstrations(tokenizer, dataset["prompt"], dataset["completion"], config.template,
                                 config.max_length, config.on_truncate, stats, row_sources(dataset))
    accelerator, run = start_run(config, "sft", tokenizer=tokenizer, recipe=recipe, data_version=data_version(dataset),
                                 template=config.template, reference=None, policy_version=None,
                                 base_model=model_name(model, config.model))
    if accelerator.is_main_process:  # under DDP only the main process writes the run directory
        run.update_record(eval_setting=eval_setting, encoding=stats.as_dict())
    micro = config.batch_size // config.grad_accum
    order = BatchOrder(len(rows), micro, config.seed)

    def next_batch(i):
        return collate_rows([rows[j] for j in order(i)], tokenizer.pad_token_id)

    model = prepare_for_training(model, config.lora_r, config.gradient_checkpointing)
    history = train_loop(model, config, run, next_batch, sft_step, tokenizer=tokenizer, desc="sft",
                         main_metric="logps/completion", accelerator=accelerator)

    def evaluate():
        if not config.eval_samples_per_prompt:
            return None
        from ..evaluate import evaluate_for_setting

        return evaluate_for_setting(model, tokenizer, prompts=eval_prompts, setting=eval_setting,
                                    samples_per_prompt=config.eval_samples_per_prompt, seed=config.seed,
                                    template=config.template)

    return finish(config, run, model, history, accelerator, evaluate)
