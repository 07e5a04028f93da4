"""How a checker answers: pass, or what is wrong and a hint, never the solution."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Verdict:
    """The outcome of one check. Truthy when passed, so solutions can ``assert check.lab4.dpo_loss(fn)``."""

    name: str
    passed: bool
    message: str = ""
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"[PASS] {self.name}" + (f": {self.message}" if self.message else "")
        return f"[FAIL] {self.name}: {self.message}" + (f"\n       hint: {self.hint}" if self.hint else "")

    def _repr_markdown_(self) -> str:
        mark = "✅" if self.passed else "❌"
        text = f"{mark} **{self.name}**" + (f": {self.message}" if self.message else "")
        return text + (f"  \n*hint:* {self.hint}" if self.hint and not self.passed else "")


def run_student(name: str, fn: Callable, *args):
    """Call the student's function; a stub or a crash becomes a failing Verdict instead of a traceback."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, Verdict(name, False, "not implemented yet", "replace the `raise NotImplementedError` stub")
    except Exception as exc:  # a student's bug: report it readably
        return None, Verdict(name, False, f"it raised {type(exc).__name__}: {exc}",
                             "run the function on a small input and read the traceback")


def report(v: Verdict, verbose: bool = True) -> Verdict:
    if verbose:
        print(v)
    return v
