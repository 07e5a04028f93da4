"""Simulated worlds with a known gold reward (docs/design.md, The two worlds).

bandit     exact, tabular: prompts x responses, closed-form pi*(beta), KL, best-of-n (numpy only)
assistant  a tiny text world: prompts in three slices, gold reward, annotators, chat templates

Import the submodule you need (`from prefkit.worlds.bandit import Bandit`); this package imports nothing
heavy on its own.
"""
