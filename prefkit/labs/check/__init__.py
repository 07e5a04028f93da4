"""Exercise checkers: ``check.lab4.dpo_loss(fn)`` says pass, or what is wrong and a hint (never the answer).

Every checker returns a Verdict that is truthy on success, prints one line, and renders in a notebook.
"""
from . import lab4, lab5
from ._verdict import Verdict

__all__ = ["lab4", "lab5", "Verdict"]
