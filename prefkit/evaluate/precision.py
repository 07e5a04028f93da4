"""Numbers printed at the precision their claim needs, so that a stored notebook output is the same on every
machine.

A difference that is zero in exact arithmetic (a closed form against its implementation, an unbiased loss
against its target) comes out of floating point as round-off: 1e-15 on one CPU, 7e-15 on another, with other
vector instructions or another thread count. Its digits say nothing; only "it is below the tolerance" does.
"""
from __future__ import annotations


def format_error(err: float, tol: float = 1e-12) -> str:
    """``err`` for print: ``"< 1e-12"`` below ``tol`` (where its digits are round-off), else 3 significant digits.

    The claim itself (``err < tol``) is asserted beside the print; this only keeps machine-dependent digits out
    of the text that nbval compares.
    """
    err = abs(float(err))
    return f"< {tol:.0e}" if err < tol else f"{err:.2e}"


__all__ = ["format_error"]
