"""kl_budget_explorer: what a KL budget buys, on the frontier and with best-of-n (chapter 03).

Left: the reward-KL frontier of the bandit, traced by pi_beta = pi_ref exp(r / beta) / Z for all beta: no
policy gets more expected gold reward for its KL(pi || pi_ref). The KL budget slider shades what is
affordable and marks the best reachable reward (the frontier policy whose KL equals the budget). Best-of-n
(draw n responses from pi_ref, keep the best) sits below the frontier; the chosen n is marked with its KL
bound log n - (n - 1) / n (Beirami et al. 2024). Right: best-of-n's exact KL against n next to that bound.
"""
from dataclasses import dataclass

import numpy as np

from prefkit import plots
from prefkit.widgets.explorer import Explorer, float_slider, headline_html, int_slider, readout_html
from prefkit.worlds.bandit import bon_kl_bound, course_bandit, frontier_policy_for_budget


@dataclass
class KLBudgetState:
    """What the KL-budget explorer drew. KL in nats; rewards are expected gold rewards."""

    budget: float  # KL budget
    best_reward: float  # max reward of any policy with KL <= budget (on the frontier)
    best_kl: float  # KL of that frontier policy (= budget unless the budget exceeds the greedy policy's KL)
    best_beta: float  # its beta (0.0: greedy; inf: pi_ref)
    n: int  # best-of-n
    bon_kl: float  # exact KL(best-of-n || pi_ref)
    bon_reward: float
    bon_bound: float  # log n - (n - 1) / n
    bon_n_in_budget: int  # the largest n whose best-of-n fits in the budget
    bon_reward_in_budget: float  # and its reward


class KLBudgetExplorer(Explorer):
    """Frontier vs best-of-n under a KL budget; see kl_budget_explorer()."""

    def __init__(self, bandit, budget, n, n_max):
        if not bandit.is_1d:
            raise ValueError("kl_budget_explorer shows one prompt: pass a 1-D bandit (arrays [K])")
        self.bandit = bandit
        self.ns = np.arange(1, n_max + 1)
        bon = [bandit.best_of_n(int(k)) for k in self.ns]
        self.bon_kl = np.array([bandit.kl(p) for p in bon])
        self.bon_reward = np.array([bandit.expected_reward(p) for p in bon])
        self.greedy_kl = bandit.kl(bandit.optimal_policy(1e-4))
        betas = np.logspace(-3, 3, 400)
        kl_f, r_f = bandit.frontier(betas)
        ref_reward, top = bandit.expected_reward(bandit.ref_probs), float(bandit.rewards.max())
        kl_max = 1.05 * max(self.greedy_kl, self.bon_kl.max())

        fig, (ax_f, ax_n) = plots.new_figure(width=10.5, height=4.0, ncols=2, dpi=96,
                                             gridspec_kw={"width_ratios": [1.35, 1]})
        with plots.style():
            self._span = ax_f.axvspan(0, budget, color=plots.COLORS["budget"], alpha=0.08, linewidth=0)
            plots.plot_frontier(ax_f, kl_f, r_f, label=r"frontier $\pi_\beta$ (all $\beta$)")
            ax_f.plot(self.bon_kl, self.bon_reward, "o-", color=plots.COLORS["bon"], markersize=3, linewidth=0.8,
                      alpha=0.6, label=f"best-of-n, n = 1..{n_max}")
            (self._bon_dot,) = ax_f.plot([], [], "o", color=plots.COLORS["bon"], markersize=10,
                                         markeredgecolor="white", label="chosen n")
            self._bound = ax_f.axvline(0, color=plots.COLORS["bon"], linestyle=":", linewidth=1.4,
                                       label=r"its KL bound $\log n - (n-1)/n$")
            self._budget = ax_f.axvline(budget, color=plots.COLORS["budget"], linewidth=1.6, label="KL budget")
            (self._best,) = ax_f.plot([], [], "*", color=plots.COLORS["budget"], markersize=17,
                                      markeredgecolor="black", markeredgewidth=0.6, label="best reachable reward")
            self._best_h = ax_f.axhline(0, color=plots.COLORS["budget"], linestyle="--", linewidth=1)
            pad = 0.06 * (top - ref_reward)
            plots.style_axes(ax_f, x="kl", y="reward", xlim=(-0.02 * kl_max, kl_max),
                             ylim=(ref_reward - pad, top + pad))
            ax_f.legend(loc="lower right", fontsize=8)

            ax_n.plot(self.ns, [bon_kl_bound(k) for k in self.ns], color=plots.COLORS["star"], linewidth=1.5,
                      label=r"bound $\log n - (n-1)/n$")
            ax_n.plot(self.ns, self.bon_kl, "o", color=plots.COLORS["bon"], markersize=3.5,
                      label=r"exact KL(best-of-n $\|\,\pi_{\rm ref}$)")
            (self._n_dot,) = ax_n.plot([], [], "o", color=plots.COLORS["bon"], markersize=10, markeredgecolor="white")
            self._n_budget = ax_n.axhline(budget, color=plots.COLORS["budget"], linewidth=1.6, label="KL budget")
            ax_n.set_xscale("log", base=2)
            ticks = [int(t) for t in 2 ** np.arange(int(np.log2(n_max)) + 1)]
            ax_n.set_xticks(ticks, [str(t) for t in ticks])
            ax_n.minorticks_off()
            plots.style_axes(ax_n, x="n", y="kl", xlim=(0.9, n_max * 1.1), ylim=(0, 1.05 * bon_kl_bound(n_max)))
            ax_n.legend(loc="upper left")
            plots.finding(fig, "A larger KL budget buys more reward, with diminishing returns; "
                               "best-of-n stays just below the frontier")
            fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.86, wspace=0.2)

        sliders = {"budget": float_slider("budget", "KL budget (nats)", budget, 0.0, round(kl_max, 1), 0.05),
                   "n": int_slider("n", "best-of-n: n", n, 1, n_max)}
        animated = [self._span, self._bon_dot, self._bound, self._budget, self._best_h, self._best, self._n_dot,
                    self._n_budget]
        super().__init__("kl-budget", sliders, fig, animated)

    def compute(self):
        b = self.bandit
        budget = float(self.sliders["budget"].value)
        n = int(self.sliders["n"].value)
        beta, policy = frontier_policy_for_budget(b, budget)
        fits = np.nonzero(self.bon_kl <= budget + 1e-12)[0]  # n = 1 (pi_ref itself, KL 0) always fits
        self.state = KLBudgetState(
            budget=budget, best_reward=b.expected_reward(policy), best_kl=b.kl(policy), best_beta=beta, n=n,
            bon_kl=float(self.bon_kl[n - 1]), bon_reward=float(self.bon_reward[n - 1]), bon_bound=bon_kl_bound(n),
            bon_n_in_budget=int(self.ns[fits[-1]]), bon_reward_in_budget=float(self.bon_reward[fits[-1]]))

    def draw(self):
        s = self.state
        self._span.set_x(0)  # a Rectangle from x = 0 (data) spanning the full height
        self._span.set_width(s.budget)
        self._budget.set_xdata([s.budget, s.budget])
        self._n_budget.set_ydata([s.budget, s.budget])
        self._best.set_data([s.best_kl], [s.best_reward])
        self._best_h.set_ydata([s.best_reward, s.best_reward])
        self._bon_dot.set_data([s.bon_kl], [s.bon_reward])
        self._bound.set_xdata([s.bon_bound, s.bon_bound])
        self._n_dot.set_data([s.n], [s.bon_kl])
        beta = ("→ 0 (greedy)" if s.best_beta == 0 else "∞ (π_ref)" if np.isinf(s.best_beta)
                else f"{s.best_beta:.3g}")
        self.headline.value = headline_html(
            f"KL budget <b>{s.budget:.2f} nats</b> buys reward <b>{s.best_reward:.3f}</b> on the frontier "
            f"(β = {beta}); &nbsp;best-of-{s.n} spends <b>{s.bon_kl:.3f}</b> nats (bound {s.bon_bound:.3f}) "
            f"for reward {s.bon_reward:.3f}")
        self.readout.value = readout_html([
            ("best reachable reward", f"{s.best_reward:.4f} at KL {s.best_kl:.3f} nats, β = {beta}"),
            (f"best-of-{s.n}",
             f"KL {s.bon_kl:.4f} ≤ log n − (n−1)/n = {s.bon_bound:.4f}; E[r*] {s.bon_reward:.4f}"),
            ("best-of-n within the budget", f"n = {s.bon_n_in_budget}, E[r*] {s.bon_reward_in_budget:.4f}"),
        ])


def kl_budget_explorer(bandit=None, budget=0.5, n=4, n_max=64):
    """Slide a KL budget (nats) and n: the best reward any policy reaches within the budget (on the frontier
    pi_beta) next to best-of-n and its KL bound log n - (n - 1) / n.

    bandit: a 1-D Bandit (default prefkit.worlds.bandit.course_bandit(), K = 8). Returns the widget (a
    KLBudgetExplorer, an ipywidgets.VBox); .state is a KLBudgetState. The maths is in prefkit.worlds.bandit
    (frontier_policy_for_budget, bon_kl_bound, Bandit.best_of_n); this module only draws it.
    """
    return KLBudgetExplorer(bandit if bandit is not None else course_bandit(), budget, n, n_max)


__all__ = ["kl_budget_explorer", "KLBudgetExplorer", "KLBudgetState"]
