"""Models: the word-level tokenizer, the tiny causal LM, loading by name or path, log-probs and sampling."""
from .adapters import apply_lora, prepare_for_training, trainable_parameters
from .generate import DecoderConfig, generate
from .load import (build_tiny_lm, load_policy, load_reward_model, load_tokenizer, resolve, tiny_llama_config)
from .logps import encode_responses, render_prompt, score_responses, sequence_logps, token_logps
from .tokenizer import build_tokenizer

__all__ = ["apply_lora", "prepare_for_training", "trainable_parameters", "DecoderConfig", "generate", "build_tiny_lm", "load_policy", "load_reward_model", "load_tokenizer",
           "resolve", "tiny_llama_config", "encode_responses", "render_prompt", "score_responses",
           "sequence_logps", "token_logps", "build_tokenizer"]
