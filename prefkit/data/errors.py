"""The one error bad preference data raises."""
from __future__ import annotations


class DataError(ValueError):
    """A preference file or row that cannot be used, with where it is and how to fix it.

    The message always reads ``<source>, line <n>: <problem>. Fix: <fix>`` so a student can open the file
    at the right line. For parquet and hub datasets ``line`` is the 1-based row number.
    """

    def __init__(self, source: str, line: int | None, problem: str, fix: str = ""):
        self.source = str(source)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.source}, line {line}" if line is not None else self.source
        super().__init__(f"{where}: {problem}" + (f". Fix: {fix}" if fix else ""))


class DataWarning(UserWarning):
    """Data that trains, but not as written: responses cut at max_length, unknown tokens, pairs that encode alike.

    One warning per encoded dataset gives the counts and the first ``<source>, line <n>`` of each kind; the same
    counts are in run.json under ``encoding``.
    """
