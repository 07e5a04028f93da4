"""Which exercises each lab has, and where checkers record their verdicts: the contract between the checkers
(``prefkit.labs.check``) and the grader (``prefkit.labs.grade``), importable without either.

``EXERCISES[lab]`` is a tuple of ``(exercise, checker, function)``: the exercise number as the lab text writes
it, the checker's name in ``prefkit.labs.check.<lab>`` and the name of the student's function it checks.
``tests/test_labs_grade.py`` keeps this table equal to the checker cells of the notebooks.
"""
from __future__ import annotations

EXERCISES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "lab1": (("1.1", "provenance", "provenance"), ("1.2", "agreement", "agreement"),
             ("1.3", "leaked_prompts", "leaked_prompts"), ("1.4", "slice_report", "slice_report")),
    "lab2": (("2.1", "pairwise_accuracy", "pairwise_accuracy"), ("2.2", "accuracy_ceiling", "accuracy_ceiling"),
             ("2.3", "reward_head", "reward_head"), ("2.4", "bt_train_step", "bt_train_step"),
             ("2.5", "goodhart_point", "goodhart_point")),
    "lab3": (("3.1", "bon_kl_bound", "bon_kl_bound"), ("3.2", "kl_penalized_objective", "kl_penalized_objective"),
             ("3.3", "beta_for_budget", "beta_for_budget"),
             ("3.4", "rloo_gradient", "rloo_gradient")),
    "lab4": (("4.1", "dpo_loss", "dpo_loss"), ("4.2", "response_logps", "response_logps"),
             ("4.3", "dpo_metrics", "dpo_metrics"), ("4.4", "dpo_train_step", "dpo_train_step"),
             ("4.5", "dpo_train", "dpo_train")),
    "lab5": (("5.1", "cdpo_loss", "cdpo_loss"), ("5.2", "rdpo_loss", "rdpo_loss"),
             ("5.3", "regression_metric", "regression_metric"), ("5.4", "rdpo_train_step", "rdpo_train_step")),
    "lab6": (("6.1", "trl_rows", "to_trl_rows"), ("6.2", "parity_config", "parity_config"),
             ("6.3", "loss_divergence", "loss_divergence"), ("6.4", "parity_break", "parity_break")),
}

VERDICTS_ENV = "PREFKIT_VERDICTS"
"""Environment variable naming the file every checker appends its verdict to (one JSON line), when set."""

EXERCISE_OF = {f"{lab}.{checker}": number for lab, rows in EXERCISES.items() for number, checker, _ in rows}
