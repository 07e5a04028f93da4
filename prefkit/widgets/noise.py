"""noise_explorer: what flipped and lukewarm labels do to DPO and its robust relatives (chapter 05).

Labels come from Bandit.sample_pairs: Bradley-Terry on the gold reward at temperature T (T = 0: the better
response always wins), then each label flipped with probability eps. Left: the accuracy ceiling
(prefkit.evaluate.reward_audit.noise_ceiling of Bandit.pair_gaps) against eps: no reward model agrees with such labels more often; at T = 0 it is
exactly 1 - eps. Middle: where the policies that fit_policy learns from those labels land on the reward-KL
frontier, next to pi* = pi_ref exp(r / beta) / Z. Right: each policy's KL to pi*.

What to see: with T = 1 and eps = 0, DPO recovers pi*. Flips make DPO (and even more cDPO, which smooths the
labels further) learn a flatter reward, so the policy stays too close to pi_ref; rDPO's unbiased loss corrects
for a known flip rate and lands next to pi*. T rescales the reward DPO infers: it learns pi*(beta T). At T = 0
and eps = 0 the labels are deterministic and DPO's optimum is the greedy policy (infinite margins): the fit
stops wherever its step budget ends. IPO's beta plays its tau, and its optimum is not pi*(beta): it lands
elsewhere by design (near pi_ref at beta = 0.5), so read it by its gold reward.

Speed: fit_policy takes ~0.1-0.3 s per fit, far too slow to call on every slider move. So the explorer fits
every slider position once, when it is built, with fit_grid: the slider grid has 10 eps x 9 T cells, and for
each loss kind fit_policy runs on a stacked bandit whose rows are independent copies of the bandit, one per
cell (the policy is tabular, so rows do not interact). dpo and ipo take one call for the whole grid, cdpo and
rdpo one call per eps (eps is also their loss parameter): 22 calls of 100 full-batch Adam steps at lr 0.3, on
2000 pairs per cell. Against fit_policy's defaults (500 steps at lr 0.1, one cell at a time) the policies
agree to 1.4e-3 in probability (measured over 12 cells; tests check one cell to 3e-3). Building takes 3-6 s
on a busy 2-core CPU and is cached with functools.lru_cache, so a second explorer on the same bandit is
instant. A slider move is then a table lookup and a redraw.
"""
import functools
from dataclasses import dataclass, field

import numpy as np

from prefkit import plots
from prefkit.evaluate.reward_audit import noise_ceiling
from prefkit.widgets.explorer import Explorer, float_slider, headline_html, readout_html
from prefkit.worlds.bandit import Bandit, fit_policy

KINDS = ("dpo", "cdpo", "rdpo", "ipo")
EPS_GRID = tuple(np.round(np.arange(0.0, 0.451, 0.05), 2))  # rdpo needs eps < 0.5
TEMP_GRID = tuple(np.round(np.arange(0.0, 2.001, 0.25), 2))


def noise_bandit():
    """The default bandit of the noise explorer: one prompt, K = 6 responses (Bandit.random, seed 2)."""
    return Bandit.random(k=6, seed=2)


def fit_grid(bandit, beta, eps_grid=EPS_GRID, temp_grid=TEMP_GRID, n_pairs=2000, seed=0, steps=100, lr=0.3):
    """{kind: probs (E, T, K)}: fit_policy on n_pairs labels from sample_pairs(flip_rate=eps, temperature=T)
    for every grid cell and kind in KINDS (cdpo and rdpo with their eps set to the true flip rate).

    Every cell uses the same seed (common random numbers), so the policies change smoothly across the grid.
    Cached: the same arguments return the same (read-only) arrays without refitting."""
    if not bandit.is_1d:
        raise ValueError("fit_grid takes a 1-D bandit (one prompt)")
    return _fit_grid(tuple(bandit.rewards), tuple(bandit.ref_probs), float(beta), tuple(eps_grid),
                     tuple(temp_grid), int(n_pairs), int(seed), int(steps), float(lr))


@functools.lru_cache(maxsize=8)
def _fit_grid(rewards, ref, beta, eps_grid, temp_grid, n_pairs, seed, steps, lr):
    bandit = Bandit(rewards, ref)
    n_e, n_t, k = len(eps_grid), len(temp_grid), len(rewards)
    chosen, rejected, cell = [], [], []
    for g, (eps, temp) in enumerate((e, t) for e in eps_grid for t in temp_grid):  # g = i * n_t + j
        c, r = bandit.sample_pairs(n_pairs, seed, flip_rate=eps, temperature=temp)
        chosen.append(c)
        rejected.append(r)
        cell.append(np.full(n_pairs, g))
    chosen, rejected, cell = np.concatenate(chosen), np.concatenate(rejected), np.concatenate(cell)

    def stack(rows):
        return Bandit(np.tile(rewards, (rows, 1)), np.tile(ref, (rows, 1)))  # (rows, K) independent copies

    opt = {"steps": steps, "lr": lr}
    out = {}
    for kind in ("dpo", "ipo"):
        out[kind] = fit_policy(stack(n_e * n_t), (chosen, rejected, cell), beta, kind, **opt).reshape(n_e, n_t, k)
    for kind in ("cdpo", "rdpo"):
        rows = []
        for i, eps in enumerate(eps_grid):
            sel = (cell >= i * n_t) & (cell < (i + 1) * n_t)  # the T row of this eps
            pairs = (chosen[sel], rejected[sel], cell[sel] - i * n_t)
            rows.append(fit_policy(stack(n_t), pairs, beta, kind, eps=float(eps), **opt))
        out[kind] = np.stack(rows)  # (E, T, K)
    for probs in out.values():
        probs.setflags(write=False)  # shared by every explorer through the cache
    return out


def kl_between(p, q):
    """KL(p || q) in nats for full-support distributions over the last axis."""
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


@dataclass
class NoiseState:
    """What the noise explorer drew. KL in nats; rewards are expected gold rewards."""

    eps: float  # label-flip rate (the grid value used)
    temperature: float  # Bradley-Terry temperature T (the grid value used)
    beta: float
    ceiling: float  # noise_ceiling(eps, gaps, T, weights) of Bandit.pair_gaps()
    target: np.ndarray = field(repr=False)  # pi*(beta) for the gold reward
    target_reward: float
    policies: dict = field(repr=False)  # kind -> probs [K] that fit_policy learned
    kl_to_target: dict = field(default_factory=dict)  # kind -> KL(pi_kind || pi*)
    kl_to_ref: dict = field(default_factory=dict)  # kind -> KL(pi_kind || pi_ref)
    gold_reward: dict = field(default_factory=dict)  # kind -> E_{pi_kind}[r]
    closest: str = ""  # the kind with the smallest KL to pi*


class NoiseExplorer(Explorer):
    """Flip rate and BT temperature vs the DPO family; see noise_explorer()."""

    def __init__(self, bandit, beta, eps, temperature, n_pairs, seed):
        self.bandit, self.beta = bandit, float(beta)
        self.eps_grid, self.temp_grid = np.array(EPS_GRID), np.array(TEMP_GRID)
        self.grid = fit_grid(bandit, beta, n_pairs=n_pairs, seed=seed)
        gaps, weights = bandit.pair_gaps()
        self.ceilings = np.array([[noise_ceiling(e, gaps, t, weights=weights) for t in TEMP_GRID]
                                  for e in EPS_GRID])  # (E, T)
        self.target = bandit.optimal_policy(beta)
        all_kl_ref = np.array([[bandit.kl(p) for p in row] for probs in self.grid.values() for row in probs])
        all_kl_star = np.concatenate([kl_between(p, self.target).ravel() for p in self.grid.values()])

        fig, (ax_c, ax_f, ax_k) = plots.new_figure(width=11.5, height=3.9, ncols=3, dpi=96,
                                                   gridspec_kw={"width_ratios": [1, 1.25, 1]})
        with plots.style():
            ax_c.plot(self.eps_grid, 1 - self.eps_grid, color=plots.COLORS["ref"], linestyle="--", linewidth=1.2,
                      label=r"$1-\epsilon$ (T = 0)")
            (self._ceiling_line,) = ax_c.plot(self.eps_grid, self.ceilings[:, 0], color=plots.COLORS["ceiling"],
                                              label="ceiling at this T")
            (self._ceiling_dot,) = ax_c.plot([], [], "o", color=plots.COLORS["ceiling"], markersize=8)
            plots.style_axes(ax_c, x="eps", y=r"accuracy ceiling of the labels", ylim=(0.45, 1.02),
                             xlim=(-0.01, 0.46))
            ax_c.legend(loc="lower left")

            betas = np.logspace(-2, 2, 200)
            kl_f, r_f = bandit.frontier(betas)
            plots.plot_frontier(ax_f, kl_f, r_f, label=r"frontier $\pi^*(\beta')$, all $\beta'$", linewidth=1.5)
            ax_f.plot([0], [bandit.expected_reward(bandit.ref_probs)], "s", color=plots.COLORS["ref"],
                      markersize=8, label=r"$\pi_{\rm ref}$")
            ax_f.plot([bandit.kl(self.target)], [bandit.expected_reward(self.target)], "*", markersize=16,
                      color=plots.COLORS["star"], label=rf"$\pi^*(\beta={beta:g})$")
            self._points = {k: ax_f.plot([], [], "o", color=plots.COLORS[k], markersize=9, alpha=0.9,
                                         label=plots.METHOD_NAMES[k])[0] for k in KINDS}
            xmax = 1.1 * max(all_kl_ref.max(), bandit.kl(self.target))
            reach = r_f[kl_f <= xmax]
            plots.style_axes(ax_f, x="kl", y="reward", xlim=(-0.02 * xmax, xmax),
                             ylim=(bandit.expected_reward(bandit.ref_probs) - 0.1, reach.max() + 0.1))
            ax_f.legend(loc="lower right", ncol=2)

            self._kl_bars = ax_k.barh(np.arange(len(KINDS)), np.zeros(len(KINDS)),
                                      color=[plots.COLORS[k] for k in KINDS])
            ax_k.set_yticks(np.arange(len(KINDS)), [plots.METHOD_NAMES[k] for k in KINDS])
            ax_k.invert_yaxis()
            self._kl_xmax = 1.1 * float(np.quantile(all_kl_star, 0.95))
            plots.style_axes(ax_k, x=r"KL($\pi\,\|\,\pi^*$)  [nats], smaller is better",
                             xlim=(0, self._kl_xmax))
            self._kl_notes = [ax_k.text(0, i, "", va="center", fontsize=9) for i in range(len(KINDS))]
            plots.finding(fig, r"Flipped labels flatten what DPO learns; rDPO undoes a known flip rate "
                               r"and lands next to $\pi^*$")
            fig.subplots_adjust(left=0.05, right=0.98, bottom=0.16, top=0.86, wspace=0.32)

        sliders = {"eps": float_slider("eps", "ε (flip rate)", eps, 0.0, 0.45, 0.05),
                   "temperature": float_slider("temperature", "BT temperature T", temperature, 0.0, 2.0, 0.25)}
        animated = [self._ceiling_line, self._ceiling_dot, *self._points.values(), *self._kl_bars,
                    *self._kl_notes]
        super().__init__("noise", sliders, fig, animated)

    def compute(self):
        i = int(np.argmin(np.abs(self.eps_grid - self.sliders["eps"].value)))  # nearest fitted grid cell
        j = int(np.argmin(np.abs(self.temp_grid - self.sliders["temperature"].value)))
        b = self.bandit
        policies = {k: self.grid[k][i, j] for k in KINDS}
        kl_star = {k: float(kl_between(p, self.target)) for k, p in policies.items()}
        self.state = NoiseState(
            eps=float(self.eps_grid[i]), temperature=float(self.temp_grid[j]), beta=self.beta,
            ceiling=float(self.ceilings[i, j]), target=self.target, target_reward=b.expected_reward(self.target),
            policies=policies, kl_to_target=kl_star, kl_to_ref={k: b.kl(p) for k, p in policies.items()},
            gold_reward={k: b.expected_reward(p) for k, p in policies.items()}, closest=min(kl_star, key=kl_star.get))
        self._j = j

    def draw(self):
        s = self.state
        self._ceiling_line.set_ydata(self.ceilings[:, self._j])
        self._ceiling_dot.set_data([s.eps], [s.ceiling])
        for i, kind in enumerate(KINDS):
            self._points[kind].set_data([s.kl_to_ref[kind]], [s.gold_reward[kind]])
            kl = s.kl_to_target[kind]
            self._kl_bars[i].set_width(min(kl, self._kl_xmax))
            self._kl_notes[i].set_text(f" {kl:.3f}")
            self._kl_notes[i].set_x(min(kl, 0.8 * self._kl_xmax))
        name = plots.METHOD_NAMES
        self.headline.value = headline_html(
            f"ε = <b>{s.eps:.2f}</b>, T = <b>{s.temperature:.2f}</b>: &nbsp;labels agree with the gold reward at "
            f"most <b>{s.ceiling:.1%}</b> of the time; &nbsp;<b>{name[s.closest]}</b> lands closest to π* "
            f"(KL {s.kl_to_target[s.closest]:.3f} nats)")
        self.readout.value = readout_html(
            [("accuracy ceiling", f"{s.ceiling:.4f}" + (" = 1 − ε" if s.temperature == 0 else ""))]
            + [(f"{name[k]}", f"KL to π* {s.kl_to_target[k]:.4f} nats · KL to π_ref {s.kl_to_ref[k]:.3f} · "
                              f"E[r*] {s.gold_reward[k]:.3f}") for k in KINDS]
            + [("π*(β)", f"KL to π_ref {self.bandit.kl(s.target):.3f} · E[r*] {s.target_reward:.3f}"
                         f"  (β = {s.beta:g})")])


def noise_explorer(bandit=None, beta=0.5, eps=0.2, temperature=1.0, n_pairs=2000, seed=0):
    """Slide the label-flip rate eps and the Bradley-Terry temperature T; see the accuracy ceiling and where
    DPO, cDPO, rDPO and IPO (fit_policy at this beta) land relative to pi*(beta).

    bandit: a 1-D Bandit (default noise_bandit(), K = 6). Building the explorer fits the whole slider grid once
    (a few seconds, cached; see fit_grid). Returns the widget (a NoiseExplorer, an ipywidgets.VBox); .state is
    a NoiseState with the ceiling, the learned policies and their KL to pi* and gold reward.
    """
    return NoiseExplorer(bandit if bandit is not None else noise_bandit(), beta, eps, temperature, n_pairs, seed)


__all__ = ["noise_explorer", "NoiseExplorer", "NoiseState", "fit_grid", "noise_bandit", "KINDS", "EPS_GRID",
           "TEMP_GRID"]
