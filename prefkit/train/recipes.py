"""Per-model recipes: the learning rate and evaluation budget a trainer uses when the config leaves them None.

One learning rate cannot suit a 1.85 M-parameter word-level model and a 135 M pretrained instruct model: with
the shipped model's DPO rate (3e-4), 8 steps of 4 pairs on SmolLM2-135M-Instruct moved the mean held-out
log-ratio margin h to 24 nats (at beta 0.1, far past where the loss saturates), where TRL's 1e-6 moved it to
0.45 nats and left its greedy answers unchanged (measured on CPU, fp32, the assistant world's clean pairs). And the end-of-run evaluation on the assistant world's 160 held-out prompts would take
about 19 minutes on a CPU, to grade a model that does not speak that world with its rubric. So a config field left at None is
filled from the recipe of the model being trained (``apply_recipe``), and run.json records both the value
used and the recipe's name:

| recipe | applies to | lr sft / reward / dpo / rl | eval samples per prompt sft / dpo / rl |
|---|---|---|---|
| ``course`` | models under 20 M parameters (the shipped world) | 1e-3 / 3e-4 / 3e-4 / 3e-4 | 2 / 4 / 2 |
| ``pretrained`` | every larger model (SmolLM2-135M, hub models) | 2e-5 / 1e-4 / 1e-6 / 1e-6 | 0 / 0 / 0 |

The course recipe is the one the chapters measured (the rates they tune are in each config's docstring). The
pretrained recipe takes TRL 1.16's own defaults (SFTConfig 2e-5, RewardConfig 1e-4, DPOConfig 1e-6,
RLOOConfig 1e-6), which are meant for full fine-tuning of pretrained models; LoRA multiplies the rate by
``LORA_LR_SCALE`` (at most ``LORA_LR_CAP``), since only the zero-initialized adapters train. The assistant
world's gold evaluation is skipped for pretrained models (0): set ``eval_samples_per_prompt`` to run it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

TINY_PARAMETERS = 20_000_000
"""Models with fewer parameters get the course recipe; the shipped reference policy has 1.85 M."""
LORA_LR_SCALE = 10.0
"""LoRA trains few, zero-initialized adapter weights: the pretrained recipe's rate times this, ..."""
LORA_LR_CAP = 2e-4
"""... but never above this."""


@dataclass(frozen=True)
class Recipe:
    """Defaults for the fields a trainer config leaves None, by trainer name (sft, reward, dpo, rl)."""

    name: str
    """What run.json calls this recipe."""
    lr: dict
    """Peak learning rate (AdamW) by trainer, for full fine-tuning."""
    eval_samples_per_prompt: dict
    """Responses per held-out prompt in the end-of-run evaluation, by trainer (0 = skip it)."""
    lora_scale: bool
    """Whether LoRA runs scale the learning rate (LORA_LR_SCALE, LORA_LR_CAP)."""


COURSE = Recipe("course", lr={"sft": 1e-3, "reward": 3e-4, "dpo": 3e-4, "rl": 3e-4},
                eval_samples_per_prompt={"sft": 2, "dpo": 4, "rl": 2}, lora_scale=False)
PRETRAINED = Recipe("pretrained", lr={"sft": 2e-5, "reward": 1e-4, "dpo": 1e-6, "rl": 1e-6},
                    eval_samples_per_prompt={"sft": 0, "dpo": 0, "rl": 0}, lora_scale=True)


def recipe_for(model) -> Recipe:
    """The recipe of ``model`` (a module): by its size, so a model object and a model name agree."""
    n = sum(p.numel() for p in model.parameters())
    return COURSE if n < TINY_PARAMETERS else PRETRAINED


TRAINER_OF = {"SFTConfig": "sft", "RewardConfig": "reward", "DPOConfig": "dpo", "RLConfig": "rl"}
"""The trainer a config class belongs to; any other TrainConfig is treated as SFT's (the loop's plain use)."""


def apply_recipe(config, model, trainer: str | None = None):
    """``(config, recipe name)``: ``config`` with its None-valued ``lr`` and ``eval_samples_per_prompt`` filled in.

    ``trainer`` (sft, reward, dpo, rl) defaults to the one ``config``'s class belongs to. Values the user set are
    kept. Call it before the run record is written, so run.json holds what was used.
    """
    trainer = trainer or TRAINER_OF.get(type(config).__name__, "sft")
    recipe = recipe_for(model)
    changes = {}
    if getattr(config, "lr", 0) is None:
        lr = recipe.lr[trainer]
        if recipe.lora_scale and getattr(config, "lora_r", 0):
            lr = min(lr * LORA_LR_SCALE, LORA_LR_CAP)
        changes["lr"] = lr
    if hasattr(config, "eval_samples_per_prompt") and config.eval_samples_per_prompt is None:
        changes["eval_samples_per_prompt"] = recipe.eval_samples_per_prompt[trainer]
    return (dataclasses.replace(config, **changes) if changes else config), recipe.name


__all__ = ["Recipe", "COURSE", "PRETRAINED", "recipe_for", "apply_recipe", "TINY_PARAMETERS", "LORA_LR_SCALE"]
