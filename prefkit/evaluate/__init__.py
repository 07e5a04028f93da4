"""Measurement, kept apart from training: audit policies on held-out slices, audit reward models as proxies.

policy        gold reward, refusal and compliance by slice, KL to the reference, win rate (eval.json)
reward_audit  pairwise accuracy (ties 1/2), the noise ceiling, calibration (ECE, reliability), length bias
reward_model  a reward model's held-out numbers from its scores (eval.json of a reward run), against the gold rubric
overopt       Gao, Schulman and Hilton (2022) overoptimization fits of gold reward against sqrt(KL)
agreement     annotator agreement by slice (policy ambiguity) and relabel diffs (feedback drift)
refusal       a refusal detector for natural English answers (refusal-v3)
general       the general setting: refusal by slice, length, KL, implicit-reward accuracy on any chat model
setting       which setting (assistant world or general) an evaluation uses
templates     template overfit: a policy evaluated under every chat template, by slice
paired        a policy against pi_ref's samples on the same prompts: paired gains, failure cases to read
rates         rates by slice with Wilson intervals, error bars, difference in differences
compare       two-sample tests: rates, means (Welch), paired changes, exact McNemar; difference, SE, 95% CI, z, p
precision     numbers printed at the precision their claim needs (no round-off digits in stored outputs)
"""
from .compare import mcnemar_exact, mean_difference, paired_difference, rate_difference
from .general import evaluate_general, format_general
from .paired import compare_to_reference, failure_cases, format_comparison, format_failure_cases
from .policy import (
    evaluate_policy,
    evaluate_run,
    format_summary,
    kl_to_reference,
    sample_responses,
    summarize,
    win_rate,
)
from .precision import format_error
from .rates import Z95, diff_in_diff, mean_ci, rate_ci, rate_errorbars, slice_mean, slice_rate, wilson_interval
from .refusal import REFUSAL_DETECTOR, is_refusal, refusal_match
from .reward_audit import (
    accuracy_ceiling,
    accuracy_stderr,
    calibration,
    noise_ceiling,
    pair_scores,
    pairwise_accuracy,
)
from .reward_model import evaluate_reward_model
from .setting import EVAL_SETTINGS, evaluate_for_setting, resolve_eval_setting
from .templates import format_template_table, template_overfit, template_table

__all__ = ["evaluate_policy", "evaluate_run", "format_summary", "kl_to_reference", "sample_responses", "summarize",
           "win_rate", "evaluate_general", "format_general", "REFUSAL_DETECTOR", "is_refusal", "refusal_match",
           "EVAL_SETTINGS", "evaluate_for_setting", "resolve_eval_setting",
           "format_error", "template_overfit", "template_table", "format_template_table",
           "compare_to_reference", "format_comparison", "failure_cases", "format_failure_cases",
           "Z95", "diff_in_diff", "mean_ci", "rate_ci", "rate_errorbars", "slice_mean", "slice_rate", "wilson_interval",
           "rate_difference", "mean_difference", "paired_difference", "mcnemar_exact",
           "pair_scores", "pairwise_accuracy", "accuracy_stderr", "accuracy_ceiling", "noise_ceiling", "calibration",
           "evaluate_reward_model"]
