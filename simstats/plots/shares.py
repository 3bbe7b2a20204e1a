"""Forest plot of each condition's persona shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simstats.kinds.base import PROB
from simstats.plots.layout import apply_forest_axis, forest_rows
from simstats.plots.style import new_figure, paper_style, pct_axis, persona_colors


def plot_persona_shares(result, *, personas: Sequence[str] | None = None, conditions: Sequence[str] |
                        None = None, prob: float = PROB, ax=None):
    """Forest plot: each condition's persona shares (posterior mean and equal-tailed ``prob`` interval), one colour
    per persona, conditions grouped by the top hierarchy level (bold headers).

    >>> fig = plot_persona_shares(result, personas=["misaligned"])          # doctest: +SKIP
    >>> fig.savefig("shares.pdf")                                            # doctest: +SKIP
    """
    names = list(result.personas if personas is None else personas)
    bad = [p for p in names if p not in result.personas]
    if bad:
        raise ValueError(f"unknown persona(s) {bad}; the model has {result.personas}")
    colors = persona_colors(result.personas)
    sh = result.shares(prob)
    with paper_style():
        ticks, labels, header, ypos, spans, n = forest_rows(result, conditions)
        if ax is None:
            fig = new_figure(5.6, 1.0 + 0.19 * n)
            ax = fig.add_subplot()
        K = len(names)
        step = min(0.22, 0.75 / max(K, 1))
        for k, p in enumerate(names):
            off = (k - (K - 1) / 2) * step
            conds = list(ypos)
            ys = np.array([ypos[c] for c in conds]) + off
            d = sh.xs(p, level="persona").loc[conds]
            ax.hlines(ys, d["low"], d["high"], color=colors[p], lw=1.4, zorder=3)
            ax.plot(d["mean"], ys, "o", color=colors[p], ms=3.6, zorder=4, label=p)
        apply_forest_axis(ax, ticks, labels, header, spans, n)
        ax.set_xlim(-0.01, 1.01)
        pct_axis(ax.xaxis)
        ax.set_xlabel(f"share of answers (posterior mean, {prob:.0%} interval)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=K, handletextpad=0.2, columnspacing=1.2,
                  borderaxespad=0.3)
    return ax.figure


__all__ = ["plot_persona_shares"]
