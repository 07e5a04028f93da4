"""Preference data: the (x, y_w, y_l) contract, loading, validation and versions."""
from .demos import EVAL_SLICES, load_demonstrations, load_eval_prompts, load_prompts
from .errors import DataError, DataWarning
from .load import DuplicatePairsWarning, load_preferences, row_sources, validate_records
from .schema import prompt_text, response_text, validate_row
from .version import data_version

__all__ = ["DataError", "DataWarning", "DuplicatePairsWarning", "load_preferences", "row_sources", "validate_records",
           "validate_row", "prompt_text", "response_text", "data_version", "load_demonstrations", "load_prompts",
           "EVAL_SLICES", "load_eval_prompts"]
