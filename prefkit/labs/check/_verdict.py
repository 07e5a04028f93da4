"""How a checker answers: pass, or what is wrong and a hint, never the solution.

When the environment variable ``PREFKIT_VERDICTS`` names a file, every verdict is also appended to it as one
JSON line ``{"lab", "exercise", "checker", "passed", "message", "hint"}``: that is how ``prefkit labs grade``
collects the results of a student notebook without reading its printed output.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..exercises import EXERCISE_OF, VERDICTS_ENV

PACKAGE_DIR = str(Path(__file__).resolve().parents[2])  # .../prefkit: code here is the package's own


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


_MODULE_OF_FILE: dict[str, str | None] = {}


def _package_function(code) -> str | None:
    """``prefkit.module.qualname`` when ``code`` belongs to the package, else None (cached per file: this runs on
    every Python call the student's function makes)."""
    filename = code.co_filename
    if filename not in _MODULE_OF_FILE:
        path = str(Path(filename).resolve()) if filename and not filename.startswith("<") else ""
        module = None
        if path.startswith(PACKAGE_DIR + os.sep):
            module = Path(path).relative_to(Path(PACKAGE_DIR).parent).with_suffix("").as_posix().replace("/", ".")
            module = module.removesuffix(".__init__")
        _MODULE_OF_FILE[filename] = module
    module = _MODULE_OF_FILE[filename]
    return None if module is None else f"{module}.{getattr(code, 'co_qualname', code.co_name)}"


def _call_watching_package(fn: Callable, args) -> tuple[object, list[str]]:
    """``fn(*args)`` and the package functions it called directly (not those the package calls itself)."""
    here, called = sys._getframe(), []
    own = getattr(fn, "__code__", None)
    if own is not None and _package_function(own):  # the package's function handed in as the answer
        called.append(_package_function(own))

    def profile(frame, event, arg):
        if event == "call":
            name = _package_function(frame.f_code)
            back = frame.f_back
            if name and (back is here or back is None or not _package_function(back.f_code)):
                called.append(name)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        return fn(*args), called
    finally:
        sys.setprofile(previous)


def run_student(name: str, fn: Callable, *args, allowed: tuple[str, ...] = (),
                explain: Callable[[Exception], tuple[str, str] | None] | None = None):
    """Call the student's function; a stub, a crash or a call to prefkit's own implementation becomes a failing
    Verdict instead of a traceback or a pass.

    ``allowed`` names the package functions the exercise may use (``prefkit.models.encoding.render_prompt``, or
    ``prefkit.worlds.bandit.Bandit.`` for every method of the bandit it is given); calling any other one directly
    is delegation. ``explain(exc)`` may give a specific (message, hint)
    for an exception the exercise is known to provoke.
    """
    if not callable(fn):
        return None, Verdict(name, False, f"expected a function, got a {type(fn).__name__}",
                             "pass the function itself, without calling it")
    try:
        out, called = _call_watching_package(fn, args)
    except NotImplementedError:
        return None, Verdict(name, False, "not implemented yet", "replace the `raise NotImplementedError` stub")
    except Exception as exc:  # a student's bug: report it readably
        known = explain(exc) if explain is not None else None
        if known is not None:
            return None, Verdict(name, False, *known)
        return None, Verdict(name, False, f"it raised {type(exc).__name__}: {exc}",
                             "run the function on a small input and read the traceback")
    delegated = [c for c in called if not _may_call(c, allowed)]
    if delegated:
        return None, Verdict(name, False, f"it calls prefkit's own implementation, {delegated[0]}, so this checks "
                             "prefkit rather than your code", "write the computation yourself; the checker already "
                             "compares your result with prefkit's")
    return out, None


def _may_call(function: str, allowed: tuple[str, ...]) -> bool:
    """An allowed name, a class or module prefix ending in '.', or the checkers' own code (a callback a checker
    handed in, or a reference helper that tests build known wrong answers from): the checkers are not what an
    exercise re-implements."""
    if function.startswith(__package__ + "."):
        return True
    return any(function == a or (a.endswith(".") and function.startswith(a)) for a in allowed)


def _record(v: Verdict) -> None:
    path = os.environ.get(VERDICTS_ENV)
    if not path:
        return
    lab, _, checker = v.name.partition(".")
    row = {"lab": lab, "exercise": EXERCISE_OF.get(v.name, ""), "checker": checker, "passed": bool(v.passed),
           "message": v.message, "hint": v.hint}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def report(v: Verdict, verbose: bool = True) -> Verdict:
    if verbose:
        print(v)
    _record(v)
    return v
