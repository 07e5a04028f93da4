"""Held-out measurement of a reward model from its scores on labelled pairs (what eval.json of a reward run holds).

The trainer scores the pairs (``prefkit.train.reward.score_reward_pairs``); everything measured from those
scores lives here, so a notebook, a lab checker and the trainer share one definition:

    accuracy               share of pairs with r(y_w) > r(y_l), ties 1/2 (``reward_audit.pair_scores``)
    accuracy_by_slice      the same on each slice of the data's "slice" column
    loss, margin           mean Bradley-Terry loss -log sigmoid(r_w - r_l - m) and mean r_w - r_l
    corr/reward_length     Pearson correlation of r with the response length in words (length bias)

and, on the assistant world's pairs, how the scores compare with the gold rubric (``against_gold``):

    accuracy/gold          the same accuracy over the pairs with different gold rewards, oriented by r* (ties 1/2)
    accuracy_ceiling       E[max(q, 1 - q)], q = P(annotator labels y_w over y_l): the best accuracy any model
                           can expect on these labels (``reward_audit.accuracy_ceiling``)
    accuracy_bayes         accuracy of that best predictor (1[q > 1/2], 1/2 at q = 1/2) on these very labels
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..data import prompt_text, response_text
from ..losses import bradley_terry_loss
from ..worlds import assistant as world
from .reward_audit import _np, accuracy_ceiling, pair_scores, pairwise_accuracy

if TYPE_CHECKING:
    from datasets import Dataset


@lru_cache(maxsize=1)
def _world_prompts() -> frozenset[str]:
    return frozenset(p.text for p in world.all_prompts())


def _key(prompt: str | list) -> str:
    return " ".join(prompt_text(prompt).lower().split())  # a conversation's last user turn; case and spacing forgiven


def is_world_data(dataset: Dataset) -> bool:
    """True when every prompt of ``dataset`` is one of the assistant world's, False when none is; raises on a
    mix (the gold rubric would score part of the data only)."""
    known = [_key(p) in _world_prompts() for p in dataset["prompt"]]
    if all(known):
        return True
    if not any(known):
        return False
    first = next(i for i, k in enumerate(known) if not k)
    raise ValueError(f"{sum(known)} of {len(known)} prompts are the assistant world's and the others are not "
                     f"(row {first}: {prompt_text(dataset['prompt'][first])!r}); evaluate the two kinds apart")


def against_gold(dataset: Dataset, chosen_rewards: ArrayLike, rejected_rewards: ArrayLike) -> dict:
    """accuracy/gold, and with an "annotator" column accuracy_ceiling and accuracy_bayes (module docstring);
    {} for data that is not the assistant world's (``is_world_data``). Unknown annotators raise."""
    if not is_world_data(dataset):
        return {}
    r_w, r_l = _np(chosen_rewards), _np(rejected_rewards)
    prompts = [prompt_text(p) for p in dataset["prompt"]]
    chosen, rejected = [response_text(y) for y in dataset["chosen"]], [response_text(y) for y in dataset["rejected"]]
    gold_diff = world.gold_rewards(prompts, chosen) - world.gold_rewards(prompts, rejected)        # (N,)
    out = {}
    differ = gold_diff != 0
    if differ.any():
        better = gold_diff[differ] > 0
        out["accuracy/gold"] = pairwise_accuracy(np.where(better, r_w[differ], r_l[differ]),
                                                 np.where(better, r_l[differ], r_w[differ]))
    if "annotator" in dataset.column_names:
        anns = [world.get_annotator(a) for a in dataset["annotator"]]
        q = np.array([a.prob_prefers(p, c, r) for a, p, c, r in zip(anns, prompts, chosen, rejected)])  # (N,)
        out["accuracy_ceiling"] = accuracy_ceiling(q)
        out["accuracy_bayes"] = float(np.where(q == 0.5, 0.5, q > 0.5).mean())
    return out


def evaluate_reward_model(dataset: Dataset, chosen_rewards: ArrayLike, rejected_rewards: ArrayLike,
                          margin: ArrayLike | float = 0.0) -> dict:
    """The held-out numbers of a reward model from its scores r(x, y_w), r(x, y_l) on the pairs of ``dataset``
    (module docstring): {"n", "accuracy", "loss", "margin", "mean_reward", "std_reward", "corr/reward_length",
    "accuracy_by_slice" (with a "slice" column), and ``against_gold``'s keys}. margin: the loss's m per pair."""
    r_w, r_l = _np(chosen_rewards), _np(rejected_rewards)
    if not len(r_w) == len(r_l) == len(dataset):
        raise ValueError(f"{len(r_w)} chosen and {len(r_l)} rejected rewards for {len(dataset)} pairs; score every "
                         f"pair of the dataset (on_truncate 'warn' or 'fail', not 'drop')")
    import torch  # the loss is the training one (losses.bradley_terry_loss), on tensors

    correct = pair_scores(r_w, r_l)                                                              # (N,)
    both = np.concatenate([r_w, r_l])                                                            # (2N,)
    loss = bradley_terry_loss(torch.as_tensor(r_w), torch.as_tensor(r_l), torch.as_tensor(_np(margin)))
    out = {"n": len(dataset), "accuracy": float(correct.mean()), "loss": float(loss.mean()),
           "margin": float((r_w - r_l).mean()), "mean_reward": float(both.mean()),
           "std_reward": float(both.std(ddof=1))}
    if "slice" in dataset.column_names:
        slices = np.array(dataset["slice"])
        out["accuracy_by_slice"] = {s: float(correct[slices == s].mean()) for s in sorted(set(slices.tolist()))}
    lengths = np.array([len(response_text(y).split()) for y in list(dataset["chosen"]) + list(dataset["rejected"])],
                       float)
    spread = lengths.std() > 0 and both.std() > 0  # a constant reward or length has no correlation: NaN
    out["corr/reward_length"] = float(np.corrcoef(both, lengths)[0, 1]) if spread else float("nan")
    out.update(against_gold(dataset, r_w, r_l))
    return out


__all__ = ["evaluate_reward_model", "against_gold", "is_world_data"]
