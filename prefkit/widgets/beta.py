"""beta_explorer: how beta sets the KL-regularized optimum pi* = pi_ref exp(r / beta) / Z.

The bandit is the exact world of docs/design.md, The two worlds.

Left: pi_ref and pi*(beta) side by side over the bandit's responses, sorted by gold reward. Right: KL(pi* ||
pi_ref) in nats (and the expected gold reward) against beta on a log axis, with the current beta marked.
Moving the beta slider right (LARGER beta) pulls pi* back onto pi_ref: smaller KL, less reward. Everything is
exact (closed form), so one update costs a softmax and a redraw.
"""
from dataclasses import dataclass, field

import numpy as np

from prefkit import plots
from prefkit.widgets.explorer import Explorer, headline_html, log_slider, readout_html
from prefkit.worlds.bandit import course_bandit


@dataclass
class BetaState:
    """What the beta explorer drew. KL in nats; rewards are expected gold rewards."""

    beta: float
    policy: np.ndarray = field(repr=False)  # pi*(beta) [K], in the bandit's response order
    kl: float  # KL(pi* || pi_ref)
    reward: float  # E_{y ~ pi*}[r]
    ref_reward: float  # E_{y ~ pi_ref}[r]
    best_reward: float  # max_y r(y): what beta -> 0 (greedy) reaches


class BetaExplorer(Explorer):
    """pi_ref vs pi*(beta), KL and expected reward; see beta_explorer()."""

    def __init__(self, bandit, beta, beta_range):
        if not bandit.is_1d:
            raise ValueError("beta_explorer shows one prompt: pass a 1-D bandit (arrays [K])")
        self.bandit = bandit
        self.order = np.argsort(bandit.rewards)  # display responses from worst to best
        slider = log_slider("beta", "β (KL strength)", beta, *beta_range)
        betas = np.logspace(slider.min, slider.max, 200)  # the slider's own range (widened to its step grid)
        kl_curve, reward_curve = bandit.frontier(betas)

        fig, (ax_bars, ax_kl) = plots.new_figure(width=10.5, height=3.9, ncols=2, dpi=96)
        with plots.style():
            rewards = bandit.rewards[self.order]
            ref, star = r"$\pi_{\rm ref}$", r"$\pi^*(\beta)$"
            start = bandit.ref_probs[self.order]
            bars = plots.plot_policy_bars(ax_bars, {ref: start, star: start},
                                          tick_labels=[f"{r:+.1f}" for r in rewards],
                                          colors={ref: plots.COLORS["ref"], star: plots.COLORS["policy"]})
            self._star_bars = bars[star]
            plots.style_axes(ax_bars, x=r"response $y$, labelled by its gold reward $r^*(y)$", y="prob", ylim=(0, 1))
            ax_bars.legend(loc="upper left")

            ax_kl.plot(betas, kl_curve, color=plots.COLORS["star"], label=r"KL($\pi^*\|\pi_{\rm ref}$)")
            ax_kl.set_xscale("log")
            plots.style_axes(ax_kl, x="beta", y="kl", ylim=(0, kl_curve.max() * 1.08))
            ax_r = ax_kl.twinx()
            ax_r.spines["right"].set_visible(True)
            ax_r.grid(False)
            ax_r.plot(betas, reward_curve, color=plots.COLORS["policy"], linestyle="--",
                      label=r"$E_{\pi^*}[r^*]$ (right axis)")
            pad = 0.05 * (reward_curve.max() - reward_curve.min())
            ax_r.set_ylim(reward_curve.min() - pad, reward_curve.max() + pad)
            ax_r.set_ylabel(plots.LABELS["reward"])
            handles = ax_kl.get_lines() + ax_r.get_lines()
            ax_kl.legend(handles, [h.get_label() for h in handles], loc="upper right")
            self._vline = ax_kl.axvline(beta, color=plots.COLORS["budget"], linewidth=1.2, linestyle=":")
            (self._kl_dot,) = ax_kl.plot([beta], [0.0], "o", color=plots.COLORS["star"], markersize=8)
            (self._r_dot,) = ax_r.plot([beta], [0.0], "s", color=plots.COLORS["policy"], markersize=7)
            plots.finding(fig, r"Larger $\beta$ keeps $\pi^*$ closer to $\pi_{\rm ref}$: KL falls as $\beta$ grows")
            fig.subplots_adjust(left=0.06, right=0.93, bottom=0.16, top=0.86, wspace=0.28)

        super().__init__("beta", {"beta": slider}, fig,
                         animated=[*self._star_bars, self._vline, self._kl_dot, self._r_dot])

    def compute(self):
        b = self.bandit
        beta = float(self.sliders["beta"].value)
        policy = b.optimal_policy(beta)
        self.state = BetaState(beta=beta, policy=policy, kl=b.kl(policy), reward=b.expected_reward(policy),
                               ref_reward=b.expected_reward(b.ref_probs), best_reward=float(b.rewards.max()))

    def draw(self):
        s = self.state
        plots.set_bar_heights(self._star_bars, s.policy[self.order])
        self._vline.set_xdata([s.beta, s.beta])
        self._kl_dot.set_data([s.beta], [s.kl])
        self._r_dot.set_data([s.beta], [s.reward])
        self.headline.value = headline_html(
            f"β = <b>{s.beta:.2g}</b>: &nbsp;KL(π* ‖ π_ref) = <b>{s.kl:.3f} nats</b>, &nbsp;E<sub>π*</sub>[r*] = "
            f"<b>{s.reward:.3f}</b> &nbsp;(π_ref: {s.ref_reward:.3f})")
        self.readout.value = readout_html([
            ("β", f"{s.beta:.3g}"),
            ("KL(π* ‖ π_ref)", f"{s.kl:.3f} nats"),
            ("E_π*[r*]", f"{s.reward:.3f}  (π_ref: {s.ref_reward:.3f}, best response: {s.best_reward:.3f})"),
        ])


def beta_explorer(bandit=None, beta=1.0, beta_range=(0.03, 30.0)):
    """Slide beta (log scale) and watch pi*(beta) = pi_ref exp(r / beta) / Z move away from pi_ref.

    bandit: a 1-D prefkit.worlds.bandit.Bandit (default: prefkit.worlds.bandit.course_bandit(), K = 8). Returns
    the widget (a BetaExplorer, an ipywidgets.VBox); its .state is a BetaState with beta, pi*, KL (nats) and
    rewards. Larger beta = closer to pi_ref = smaller KL.
    """
    return BetaExplorer(bandit if bandit is not None else course_bandit(), beta, beta_range)


__all__ = ["beta_explorer", "BetaExplorer", "BetaState"]
