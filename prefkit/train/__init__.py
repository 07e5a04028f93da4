"""Trainers on one shared loop. Each takes a dataclass config, returns (model, history) and writes a run dir."""
from .bon import BestOfNConfig, best_of_n, best_of_n_curve
from .config import TrainConfig
from .dpo import DPOConfig, dpo
from .loop import TrainingDiverged, train_loop
from .reward import RewardConfig, reward, train_reward
from .rewards import gold_reward_fn, reward_fn
from .rl import RLConfig, rl
from .sft import SFTConfig, sft

__all__ = ["TrainConfig", "TrainingDiverged", "train_loop", "SFTConfig", "sft", "RewardConfig", "train_reward",
           "reward", "reward_fn", "gold_reward_fn", "BestOfNConfig", "best_of_n", "best_of_n_curve", "RLConfig", "rl",
           "DPOConfig", "dpo"]
