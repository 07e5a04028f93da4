"""Reward modeling: fit a scalar r(x, y) to preference pairs (x, y_w, y_l) with the Bradley-Terry loss.

    L = E[ -log sigmoid(r(x, y_w) - r(x, y_l) - m) ] + c E[ (r(x, y_w) + r(x, y_l))^2 ]

m is an optional per-pair margin (the data's "margin" column; Llama 2, Touvron et al. 2023, eq. 2) and c is
TRL's ``center_rewards_coefficient`` (Eisenstein et al. 2023, eq. 2): Bradley-Terry only sees differences,
so r is defined up to a constant per prompt, and the centering term pins its mean near 0.

The reward model starts from the reference policy (``load_reward_model``: the policy's backbone plus a fresh
one-output ``score`` head) and reads the head at the last real token (``scoring.pooled_rewards``). A reward
model is a LEARNED PROXY: fit to the length-biased annotator it rewards padding, and best-of-n or RL against it
can raise r while the gold reward r* falls (Goodhart; ``benchmarks/goodhart.py``).

    >>> result = train_reward(RewardConfig())              # clean labels; result.read_eval() is eval.json
    >>> r = reward_fn(result.model, tok, name=str(result.run_dir))   # r(prompts, responses) -> (N,) array

Laptop recipe (the defaults: 150 steps of 32 pairs): about 3 min on a 2-core CPU with one torch thread.
Held-out accuracy 0.75 on clean labels against a noise ceiling of 0.83 (0.82 on length-biased labels, where
corr(reward, length) is 0.59 instead of -0.15). What to inspect: accuracy by slice, accuracy/gold and
corr/reward_length in eval.json.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import data_version, load_preferences
from ..evaluate.reward_audit import pair_scores
from ..evaluate.reward_model import evaluate_reward_model
from ..losses import bradley_terry_loss
from ..models import EncodingStats, load_reward_model, prepare_for_training
from ..models.encoding import ON_TRUNCATE
from .config import TrainConfig
from .loop import BatchOrder, model_name, start_run, train_loop
from .pairs import encode_preferences, resolve_data, select_pairs
from .recipes import apply_recipe
from .scoring import pooled_rewards
from .result import TrainResult
from .start import begin, check_config, finish
from .validate import NAME, OPTIONAL_NAME, PATH, Int, OneOf, Real


@dataclass
class RewardConfig(TrainConfig):
    data: str = "data/assistant/prefs/clean"
    """Preference pairs: a folder of splits (train.jsonl, test.jsonl), a file, or a hub dataset name.
    data/assistant/prefs/length gives the length-biased proxy that best-of-n and RL can hack."""
    split: str = "train"
    """Split of ``data`` to train on, optionally sliced: 'train', 'train[:1000]'."""
    eval_split: str | None = "test"
    """Held-out split of ``data`` for eval.json (accuracy, by slice, against the gold rubric); None = none."""
    model: str = "assistant-sft"
    """Backbone to start from (shipped name, path or hub name): a causal LM gets a fresh scalar score head."""
    template: str = "default"
    """Chat template the prompts are rendered with (the same one best-of-n and RL must score with)."""
    max_length: int = 128
    """Truncate prompt+response to this many tokens (the response end is cut, never the prompt)."""
    use_margin: bool = True
    """Use the per-pair "margin" column when the data has one: the loss becomes -log sigmoid(r_w - r_l - m)."""
    center_rewards_coefficient: float | None = None
    """c in + c E[(r_w + r_l)^2] (TRL's name; 0.01 is TRL's suggestion): keeps rewards centred near 0."""
    eval_batch_size: int = 256
    """Pairs per forward pass when evaluating."""
    steps: int = 150
    """Optimizer steps (the laptop recipe: 150 steps of 32 pairs, about 1.6 epochs of 3000 pairs)."""
    lr: float | None = None
    """Peak learning rate (AdamW). None = the model's recipe: 3e-4 for the course's models, TRL's 1e-4 for
    pretrained ones."""
    log_every: int = 10
    """Write a metrics row every this many steps."""
    on_truncate: str = "warn"
    """A response cut at max_length: 'warn' keeps it cut (one warning counts them, with the first file:line),
    'drop' removes the pair (counted in run.json 'encoding'), 'fail' stops with the file and line."""

    RULES = {"data": PATH, "split": NAME, "eval_split": OPTIONAL_NAME, "model": PATH, "template": NAME,
             "max_length": Int(2), "center_rewards_coefficient": Real(0, optional=True), "eval_batch_size": Int(1),
             "on_truncate": OneOf(ON_TRUNCATE)}


# ------------------------------------------------------------------------------------------------- data
def encode_reward_pairs(tokenizer, dataset, template: str | None, max_length: int | None, use_margin: bool,
                        stats: EncodingStats | None = None, on_truncate: str = "warn") -> dict:
    """``encode_preferences`` of the dataset plus the margins.   (N', T) each; margin (N',)

    The margin is the data's "margin" column when ``use_margin`` and the column exists (a row without one
    counts as 0), else 0 for every pair. ``stats`` accumulates what truncation did; ``on_truncate="drop"``
    leaves out the pairs with a cut response (N' < N).
    """
    out, kept = encode_preferences(tokenizer, dataset, template, max_length, on_truncate, stats)
    out = {k: v for k, v in out.items() if not k.endswith("response_mask")}  # the score is read at the last token
    has_margin = use_margin and "margin" in dataset.column_names
    margins = [0.0 if m is None else m for m in dataset["margin"]] if has_margin else [0.0] * len(dataset)
    out["margin"] = torch.tensor([margins[i] for i in kept], dtype=torch.float)                  # (N',)
    return out


def pair_rewards(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """r(x, y_w), r(x, y_l) in one forward pass (y_w and y_l concatenated along the batch).   (B,), (B,)"""
    ids = torch.cat([batch["chosen_input_ids"], batch["rejected_input_ids"]])                  # (2B, T)
    attn = torch.cat([batch["chosen_attention_mask"], batch["rejected_attention_mask"]])       # (2B, T)
    return pooled_rewards(model, ids, attn).chunk(2)                                           # (B,), (B,)


# ------------------------------------------------------------------------------------------ loss + metrics
def reward_loss(chosen_rewards, rejected_rewards, margin=0.0, center_rewards_coefficient=None):
    """Mean Bradley-Terry loss with optional margin, plus the optional centering term.   scalar

    L = mean(-log sigmoid(r_w - r_l - m)) + c mean((r_w + r_l)^2)      (TRL's RewardTrainer.compute_loss)
    """
    loss = bradley_terry_loss(chosen_rewards, rejected_rewards, margin).mean()
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * ((chosen_rewards + rejected_rewards) ** 2).mean()
    return loss


def reward_step(model, batch: dict, cfg: RewardConfig):
    """``(loss, metrics)`` of one micro-batch, with TRL's RewardTrainer metric names.

    ``accuracy`` counts a tied pair 1/2, as every accuracy in prefkit (``evaluate.reward_audit.pair_scores``);
    TRL's logged accuracy, ``(rewards_chosen > rewards_rejected).mean()``, counts it 0: the two differ only on
    exact ties."""
    r_w, r_l = pair_rewards(model, batch)                                                      # (B,), (B,)
    loss = reward_loss(r_w, r_l, batch["margin"], cfg.center_rewards_coefficient)
    both = torch.cat([r_w, r_l]).detach()                                                      # (2B,)
    metrics = {"accuracy": pair_scores(r_w, r_l).mean(), "margin": (r_w - r_l).mean(),
               "rewards/chosen": r_w.mean(), "rewards/rejected": r_l.mean(),
               "mean_reward": both.mean(), "std_reward": both.std(), "min_reward": both.min(),
               "max_reward": both.max()}
    return loss, {k: v.detach() for k, v in metrics.items()}


# ------------------------------------------------------------------------------------------------ evaluate
@torch.no_grad()
def score_reward_pairs(model, tokenizer, dataset, template: str | None = "default", max_length: int | None = 128,
                       batch_size: int = 256, use_margin: bool = True, tensors: dict | None = None) -> dict:
    """r(x, y_w), r(x, y_l) and the margin m of every pair of ``dataset``, as {"chosen", "rejected", "margin"}
    (N,) tensors on the CPU; ``prefkit.evaluate.reward_model.evaluate_reward_model`` measures them.

    ``tensors``: the pairs already encoded (``encode_reward_pairs`` of ``dataset``, every pair kept), as
    ``train_reward`` does before training so that an eval file that cannot be encoded stops the run at once.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if tensors is None:
        tensors = encode_reward_pairs(tokenizer, dataset, template, max_length, use_margin)
    if len(tensors["margin"]) != len(dataset):
        raise ValueError(f"tensors hold {len(tensors['margin'])} pairs but the dataset has {len(dataset)}; encode "
                         f"every pair of the eval dataset (on_truncate 'warn' or 'fail', not 'drop')")
    r_w, r_l = [], []
    for start in range(0, len(dataset), batch_size):
        batch = select_pairs(tensors, range(start, min(start + batch_size, len(dataset))))
        a, b = pair_rewards(model, {k: v.to(device) for k, v in batch.items()})
        r_w.append(a.cpu())
        r_l.append(b.cpu())
    model.train(was_training)
    return {"chosen": torch.cat(r_w), "rejected": torch.cat(r_l), "margin": tensors["margin"]}       # (N,) each


# ------------------------------------------------------------------------------------------------ trainer
def train_reward(config: RewardConfig, model=None, tokenizer=None, *, dataset=None, eval_dataset=None) -> TrainResult:
    """Fit a reward model to preference pairs; writes a run directory and returns the ``TrainResult``.

    The run directory holds run.json (config, seed, data version, template, reference model the reward model
    starts from), metrics.jsonl (loss, accuracy, margin, rewards/chosen, rewards/rejected, mean_reward,
    std_reward, min_reward, max_reward, grad_norm, learning_rate), checkpoint/ (``save_pretrained``:
    reload with ``prefkit.models.load_reward_model(run.path / "checkpoint")``) and eval.json
    (``score_reward_pairs`` of the held-out split, measured by
    ``prefkit.evaluate.reward_model.evaluate_reward_model``). ``dataset``/``eval_dataset`` override the files.
    Both splits are encoded before the run directory is created, so a pair that cannot be used stops the run
    before it trains; what encoding cut is in run.json under ``encoding`` and ``eval_encoding``.
    """
    model, tokenizer = begin(config, model, tokenizer,
                             lambda: load_reward_model(config.model, dtype=config.torch_dtype()))
    config, recipe = apply_recipe(config, model, "reward")
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id  # HF's own forward refuses batches without one
    data = resolve_data(config.data)
    if dataset is None:
        dataset = load_preferences(data, config.split)
        if eval_dataset is None and config.eval_split:
            eval_dataset = load_preferences(data, config.eval_split)
    check_config(config, tokenizer)
    stats = EncodingStats()  # encoded before the run starts: a row that cannot be used leaves no run directory
    tensors = encode_reward_pairs(tokenizer, dataset, config.template, config.max_length, config.use_margin, stats,
                                  config.on_truncate)
    eval_stats, eval_tensors = EncodingStats(), None
    if eval_dataset is not None:  # every held-out pair is scored: cut ones are kept cut (or stop the run with 'fail')
        eval_tensors = encode_reward_pairs(tokenizer, eval_dataset, config.template, config.max_length,
                                           config.use_margin, eval_stats,
                                           "fail" if config.on_truncate == "fail" else "warn")
    accelerator, run = start_run(
        config, "reward", tokenizer=tokenizer, recipe=recipe, data_version=data_version(dataset),
        template=config.template,
        reference=model_name(model, config.model), policy_version=None,
        eval_data_version=data_version(eval_dataset) if eval_dataset is not None else None,
        margin_used=config.use_margin and "margin" in dataset.column_names)
    main = accelerator.is_main_process  # under DDP only the main process writes the run directory
    if main:
        run.update_record(encoding=stats.as_dict(),
                          **({"eval_encoding": eval_stats.as_dict()} if eval_dataset is not None else {}))
    order = BatchOrder(len(tensors["margin"]), config.batch_size // config.grad_accum, config.seed)
    model = prepare_for_training(model, config.lora_r, config.gradient_checkpointing, reward_head=True)
    history = train_loop(model, config, run, lambda i: select_pairs(tensors, order(i)),
                         lambda m, b: reward_step(m, b, config), tokenizer=tokenizer, desc="reward",
                         main_metric="accuracy", accelerator=accelerator)

    def evaluate():
        if eval_dataset is None:
            return None
        scores = score_reward_pairs(model, tokenizer, eval_dataset, config.template, config.max_length,
                                    config.eval_batch_size, config.use_margin, eval_tensors)
        result = evaluate_reward_model(eval_dataset, scores["chosen"], scores["rejected"], scores["margin"])
        return {"split": config.eval_split, "data_version": data_version(eval_dataset), **result}

    return finish(config, run, model, history, accelerator, evaluate)


__all__ = ["RewardConfig", "train_reward", "reward_step", "reward_loss", "pair_rewards",
           "score_reward_pairs", "encode_reward_pairs"]
