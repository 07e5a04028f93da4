"""Exercise checkers: ``check.lab4.dpo_loss(fn)`` says pass, or what is wrong and a hint (never the answer).

Every checker returns a Verdict that is truthy on success, prints one line, and renders in a notebook.
"""
from . import lab1, lab2, lab3, lab4, lab5, lab6
from ._verdict import VERDICTS_ENV, Verdict
from ..exercises import EXERCISES

__all__ = ["lab1", "lab2", "lab3", "lab4", "lab5", "lab6", "EXERCISES", "VERDICTS_ENV", "Verdict"]
