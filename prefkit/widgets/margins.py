"""margin_explorer: the DPO family as functions of the log-ratio margin h (docs/design.md, Notation).

h = logratio(y_w) - logratio(y_l). Left: the Bradley-Terry probability sigma(beta h) that the implicit reward
assigns to the label, and DPO's gradient weight sigma(-beta h). Right: the per-pair loss of every
prefkit.losses.preference_loss kind. The point of the picture:

- DPO's loss only flattens: its weight sigma(-beta h) is positive for every h, so training keeps pushing the
  margin (and the policy away from pi_ref) for as long as it runs.
- cDPO (eps > 0) has a minimum at finite h* = log((1 - eps) / eps) / beta, where sigma(beta h*) = 1 - eps:
  it stops once the pair is as certain as the labels deserve. There DPO's weight is exactly eps.
- IPO's squared loss has its minimum at h* = 1 / (2 beta): it regresses the margin to a target.
- hinge (SLiC) is zero from h = 1 / beta on; rDPO is unbounded below for eps > 0 and never stops.
"""
from dataclasses import dataclass, field

import numpy as np
import torch

from prefkit import plots
from prefkit.losses import PREFERENCE_KINDS, dpo_gradient_weight, preference_loss, preference_loss_minimum
from prefkit.widgets.explorer import (Explorer, float_slider, headline_html, log_slider, one_torch_thread,
                                     readout_html)

H_RANGE = (-4.0, 12.0)
LOSS_YLIM = (-1.0, 4.0)


@dataclass
class MarginState:
    """The curves the margin explorer drew, on the grid h (nats)."""

    beta: float
    eps: float
    h: np.ndarray = field(repr=False)  # (N,) margin grid
    bt_prob: np.ndarray = field(repr=False)  # sigma(beta h)
    grad_weight: np.ndarray = field(repr=False)  # sigma(-beta h) from prefkit.losses.dpo_gradient_weight
    losses: dict = field(repr=False)  # kind -> (N,) preference_loss(h, 0, beta, kind, eps)
    minima: dict  # analytic argmin_h: {"cdpo": ..., "ipo": ...}; inf where there is none
    grid_minima: dict  # argmin of the drawn curves (within H_RANGE)
    hinge_zero_from: float  # 1 / beta


class MarginExplorer(Explorer):
    """Loss curves of the DPO family against h; see margin_explorer()."""

    def __init__(self, beta, eps, beta_range, points):
        self.h = np.linspace(*H_RANGE, points)
        fig, (ax_p, ax_l) = plots.new_figure(width=10.5, height=4.0, ncols=2, dpi=96)
        with plots.style():
            nan = np.full_like(self.h, np.nan)
            (self._bt,) = ax_p.plot(self.h, nan, color=plots.COLORS["bt"],
                                    label=r"$P(y_w \succ y_l) = \sigma(\beta h)$")
            (self._w,) = ax_p.plot(self.h, nan, color=plots.COLORS["weight"],
                                   label=r"DPO gradient weight $\sigma(-\beta h)$")
            self._target = ax_p.axhline(1 - eps, color=plots.COLORS["cdpo"], linestyle=":", linewidth=1.2,
                                        label=r"cDPO target $1-\epsilon$")
            plots.style_axes(ax_p, x="h", y="prob", xlim=H_RANGE, ylim=(-0.02, 1.02))
            ax_p.legend(loc="center right")

            self._lines = plots.plot_losses(ax_l, self.h, {k: nan for k in PREFERENCE_KINDS},
                                            linestyles={"hinge": "--", "rdpo": "-."})
            plots.style_axes(ax_l, x="h", y="loss", xlim=H_RANGE, ylim=LOSS_YLIM)
            ax_l.axhline(0, color="#bbbbbb", linewidth=0.8)
            ax_l.legend(loc="upper right", ncol=2)

            self._marks, self._notes, self._vlines = {}, {}, []
            for kind in ("cdpo", "ipo"):
                color = plots.COLORS[kind]
                (self._marks[kind],) = ax_l.plot([], [], "o", color=color, markersize=9, markeredgecolor="white")
                self._notes[kind] = ax_l.text(0, 0, "", color=color, fontsize=9, fontweight="bold",
                                              bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
                self._vlines += [ax.axvline(0, color=color, linestyle=":", linewidth=1.2) for ax in (ax_p, ax_l)]
            plots.finding(fig, r"DPO keeps pushing the margin ($\sigma(-\beta h) > 0$ for every $h$); "
                               "cDPO and IPO stop at a finite $h$")
            fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.86, wspace=0.2)

        sliders = {"beta": log_slider("beta", "β (KL strength)", beta, *beta_range),
                   "eps": float_slider("eps", "ε (label noise, cDPO/rDPO)", eps, 0.0, 0.45, 0.05)}
        animated = [self._bt, self._w, self._target, *self._lines.values(), *self._vlines,
                    *self._marks.values(), *self._notes.values()]
        super().__init__("margin", sliders, fig, animated)

    def compute(self):
        with one_torch_thread():
            self._compute()

    def _compute(self):
        beta = float(self.sliders["beta"].value)
        eps = round(float(self.sliders["eps"].value), 6)  # slider floats such as 0.30000000000000004
        h = torch.as_tensor(self.h)  # (N,) float64; the rejected logratio is 0, so the margin is h
        zero = torch.zeros_like(h)
        losses = {k: preference_loss(h, zero, beta, k, eps if k in ("cdpo", "rdpo") else 0.0).numpy()
                  for k in PREFERENCE_KINDS}
        minima = {"cdpo": preference_loss_minimum(beta, "cdpo", eps), "ipo": preference_loss_minimum(beta, "ipo")}
        self.state = MarginState(
            beta=beta, eps=eps, h=self.h, bt_prob=torch.sigmoid(beta * h).numpy(),
            grad_weight=dpo_gradient_weight(h, zero, beta).numpy(), losses=losses, minima=minima,
            grid_minima={k: float(self.h[np.argmin(v)]) for k, v in losses.items()}, hinge_zero_from=1.0 / beta)

    def draw(self):
        s = self.state
        self._bt.set_ydata(s.bt_prob)
        self._w.set_ydata(s.grad_weight)
        self._target.set_ydata([1 - s.eps, 1 - s.eps])
        self._target.set_visible(s.eps > 0)
        for kind, line in self._lines.items():
            line.set_ydata(s.losses[kind])
        for i, kind in enumerate(("cdpo", "ipo")):
            self._mark_minimum(kind, s.minima[kind], self._vlines[2 * i: 2 * i + 2])
        words = {k: (f"h = {v:.2f}" if np.isfinite(v) else "never (ε = 0)") for k, v in s.minima.items()}
        self.headline.value = headline_html(
            f"β = <b>{s.beta:.2g}</b>, ε = <b>{s.eps:.2f}</b>: &nbsp;cDPO stops at <b>{words['cdpo']}</b>, &nbsp;"
            f"IPO at <b>{words['ipo']}</b>, &nbsp;hinge is flat from h = {s.hinge_zero_from:.2f}; DPO never stops")
        cdpo = (f"{s.minima['cdpo']:.3f} = log((1−ε)/ε)/β, where σ(βh) = 1−ε and DPO's weight = ε"
                if np.isfinite(s.minima["cdpo"]) else "none: with ε = 0 cDPO is DPO")
        self.readout.value = readout_html([
            ("β, ε", f"{s.beta:.3g}, {s.eps:.2f}"),
            ("cDPO minimum h*", cdpo),
            ("IPO minimum h*", f"{s.minima['ipo']:.3f} = 1/(2β)"),
            ("hinge", f"zero loss for h ≥ 1/β = {s.hinge_zero_from:.3f}"),
            ("DPO, rDPO", "no minimum: DPO's loss only flattens, rDPO's falls without bound for ε > 0"),
        ])

    def _mark_minimum(self, kind, h_star, vlines):
        mark, note = self._marks[kind], self._notes[kind]
        visible = bool(np.isfinite(h_star))
        for artist in (mark, note, *vlines):
            artist.set_visible(visible)
        if not visible:
            return
        name = plots.METHOD_NAMES[kind]
        inside = h_star <= H_RANGE[1]
        x = h_star if inside else H_RANGE[1]
        loss = float(np.interp(x, self.h, self.state.losses[kind]))  # where the marker sits on the drawn curve
        y = min(max(loss, LOSS_YLIM[0]), LOSS_YLIM[1])
        mark.set_data([x], [y])
        mark.set_marker("o" if inside else ">")
        for line in vlines:
            line.set_xdata([x, x])
            line.set_visible(inside)
        note.set_text(f"{name} min" + ("" if inside else f" at h = {h_star:.0f} →"))
        # IPO's label left of its point, cDPO's right of it (left near the axis end): apart whenever
        # h*_IPO = 1/(2 beta) < h*_cDPO, i.e. eps < 1/(1 + e^0.5) = 0.38, and at different heights otherwise
        right = kind == "cdpo" and x < H_RANGE[1] - 3
        note.set_position((x + 0.25 if right else x - 0.25, y + 0.3))
        note.set_horizontalalignment("left" if right else "right")


def margin_explorer(beta=0.5, eps=0.1, beta_range=(0.1, 5.0), points=321):
    """Slide beta and eps and compare sigma(beta h), DPO's gradient weight sigma(-beta h) and the loss of every
    preference_loss kind against the margin h; cDPO's and IPO's minima are marked.

    Returns the widget (a MarginExplorer, an ipywidgets.VBox); .state is a MarginState with the curves and the
    analytic minima (cDPO: log((1 - eps) / eps) / beta, IPO: 1 / (2 beta)).
    """
    return MarginExplorer(beta, eps, beta_range, points)


__all__ = ["margin_explorer", "MarginExplorer", "MarginState"]
