"""Interactive explorers for the course (ipywidgets): beta, margins, label noise, KL budget.

Each function returns its widget (an ipywidgets.VBox subclass, so a cell ending in it shows it) and the
widget carries the numbers behind the figure:

    ex = beta_explorer()
    ex.sliders["beta"].value = 2.0        # the callback runs at once, in the kernel
    ex.state.kl                           # KL(pi* || pi_ref) in nats, for the figure now shown
    ex.renders                            # re-renders so far

| explorer               | sliders           | state                                                      |
|------------------------|-------------------|------------------------------------------------------------|
| beta_explorer()        | beta              | BetaState: pi*(beta), KL, expected reward                  |
| margin_explorer()      | beta, eps         | MarginState: sigma(beta h), sigma(-beta h), losses, minima |
| noise_explorer()       | eps, temperature  | NoiseState: ceiling, fitted policies, KL to pi*, reward    |
| kl_budget_explorer()   | budget, n         | KLBudgetState: best reachable reward, best-of-n, its bound |

Figures are PNG images of one persistent matplotlib figure (no ipympl needed); see explorer.py.
"""
from prefkit.widgets.beta import BetaExplorer, BetaState, beta_explorer
from prefkit.widgets.explorer import Explorer
from prefkit.widgets.kl_budget import KLBudgetExplorer, KLBudgetState, kl_budget_explorer
from prefkit.widgets.margins import MarginExplorer, MarginState, margin_explorer
from prefkit.widgets.noise import NoiseExplorer, NoiseState, noise_explorer

__all__ = [
    "beta_explorer",
    "margin_explorer",
    "noise_explorer",
    "kl_budget_explorer",
    "Explorer",
    "BetaExplorer",
    "MarginExplorer",
    "NoiseExplorer",
    "KLBudgetExplorer",
    "BetaState",
    "MarginState",
    "NoiseState",
    "KLBudgetState",
]
