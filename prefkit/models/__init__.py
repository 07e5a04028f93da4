"""Models: the word-level tokenizer, the tiny causal LM, loading by name or path (and the real models the kit
installs offline, ``catalog``), log-probs and sampling."""
from .adapters import apply_lora, prepare_for_training, trainable_parameters
from .catalog import MODELS, ModelNotInstalled, models_dir
from .encoding import (EncodingStats, Row, as_messages, collate_rows, encode_responses, encode_rows, prompt_token_ids,
                       render_prompt, shared_prompt, tokenize_rows, truncate_rows)
from .generate import DecoderConfig, Sample, decode_samples, generate, sample_ids
from .load import (build_tiny_lm, load_policy, load_reward_model, load_tokenizer, resolve, tiny_llama_config)
from .logps import score_responses, sequence_logps, token_logps
from .tokenizer import build_tokenizer

__all__ = ["MODELS", "ModelNotInstalled", "models_dir", "apply_lora", "prepare_for_training", "trainable_parameters",
           "DecoderConfig", "Sample", "decode_samples", "generate", "sample_ids", "build_tiny_lm", "load_policy", "load_reward_model", "load_tokenizer",
           "resolve", "tiny_llama_config", "EncodingStats", "Row", "as_messages", "collate_rows", "encode_responses",
           "encode_rows", "prompt_token_ids", "render_prompt", "shared_prompt", "tokenize_rows", "truncate_rows",
           "score_responses", "sequence_logps", "token_logps", "build_tokenizer"]
