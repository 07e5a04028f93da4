"""Trainers on one shared loop. Each takes a dataclass config, returns (model, history) and writes a run dir."""
from .config import TrainConfig
from .loop import TrainingDiverged, train_loop
from .sft import SFTConfig, sft

__all__ = ["TrainConfig", "TrainingDiverged", "train_loop", "SFTConfig", "sft"]
