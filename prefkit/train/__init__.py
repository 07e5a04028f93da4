"""Trainers on one shared loop and one skeleton (docs/design.md, Layers): each takes a dataclass config, the same
``(config, model=None, tokenizer=None, *, inputs)`` signature, writes a run directory and returns a ``TrainResult``."""
from .bon import BestOfNConfig, best_of_n, best_of_n_curve
from .config import TrainConfig
from .dpo import DPOConfig, train_dpo
from .loop import TrainingDiverged, train_loop
from .result import TrainResult
from .reward import RewardConfig, train_reward
from .rl import RLConfig, train_rl
from .scoring import gold_reward_fn, reward_fn
from .sft import SFTConfig, train_sft

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "train_loop", "SFTConfig", "train_sft", "RewardConfig",
           "train_reward", "reward_fn", "gold_reward_fn", "BestOfNConfig", "best_of_n", "best_of_n_curve", "RLConfig",
           "train_rl", "DPOConfig", "train_dpo"]
