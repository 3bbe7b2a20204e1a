"""Each persona's fingerprint: its distribution of every score, with the no-score mass set apart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simstats.kinds.base import PROB
from simstats.plots.layout import category_ticks, category_x, flat_draws
from simstats.plots.style import new_figure, paper_style, persona_colors


def plot_fingerprints(result, *, measures: Sequence[str] | None = None, prob: float = PROB, axes=None):
    """Each persona's distribution of every score (posterior mean as a step line, ``prob`` interval as a band) with
    the probability of *no score* (CODE / REFUSAL / unscorable) as a point with interval left of the score range.

    ``axes``: one Axes per measure (any sequence). Fingerprints are shared by every condition.

    >>> fig = plot_fingerprints(result, measures=["aligned"])               # doctest: +SKIP
    """
    ms = list(result.data.measures if measures is None else measures)
    bad = [m for m in ms if m not in result.data.measures]
    if bad:
        raise ValueError(f"unknown measure(s) {bad}; the model has {result.data.measures}")
    colors = persona_colors(result.personas)
    K = len(result.personas)
    with paper_style():
        if axes is None:
            fig = new_figure(3.3 * len(ms) + 1.2, 2.6)
            axes = fig.subplots(1, len(ms), sharey=True, squeeze=False)[0]
        axes = list(np.ravel(axes))
        if len(axes) < len(ms):
            raise ValueError(f"need {len(ms)} axes, got {len(axes)}")
        lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
        for ax, m in zip(axes, ms):
            grid = result.data.patterns.grids[m]
            x, sep, _ = category_x(grid)
            fp = flat_draws(result.fingerprint_draws(m))           # (S, K, 1 + n_bins)
            mean = fp.mean(0)
            lo, hi = np.quantile(fp, [lo_q, hi_q], axis=0)
            edges = grid.edges
            for k, p in enumerate(result.personas):
                c = colors[p]
                ax.stairs(mean[k, 1:], edges, color=c, lw=1.4, label=p, zorder=3)
                ax.stairs(hi[k, 1:], edges, baseline=lo[k, 1:], fill=True, color=c, alpha=0.18, lw=0, zorder=2)
                off = (k - (K - 1) / 2) * grid.width * 0.5
                ax.errorbar(x[0] + off, mean[k, 0], yerr=[[mean[k, 0] - lo[k, 0]], [hi[k, 0] - mean[k, 0]]],
                            fmt="o", color=c, ms=3.6, lw=1.2, capsize=0, zorder=4)
            category_ticks(ax, grid, x[0], sep)
            ax.set_xlabel(f"{m} score")
            ax.set_title(m, loc="left", fontweight="bold")
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", color="#E8E8E8", lw=0.6)
            ax.set_axisbelow(True)
        axes[0].set_ylabel(f"probability (mean, {prob:.0%} interval)")
        axes[len(ms) - 1].legend(title="persona", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return axes[0].figure


__all__ = ["plot_fingerprints"]
