"""Heatmap of the per-question shifts of the persona log-odds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simstats.kinds.base import PROB
from simstats.plots.style import new_figure, paper_style, persona_colors


def plot_question_shifts(result, *, persona: str | Sequence[str] | None = None, prob: float = PROB,
                         ax=None):
    """Heatmap of the per-question shift of each persona's log-odds (prompt x persona; relative to the reference
    persona, whose shifts are 0 by construction and are left out unless asked for). Diverging colours centred at
    0; each cell shows the posterior mean, with ``*`` where the ``prob`` interval excludes 0.

    >>> fig = plot_question_shifts(result, persona="misaligned")             # doctest: +SKIP
    """
    qs = result.question_shifts(prob)
    if qs.empty:
        raise ValueError("this model has no per-question effect (prompt.question_effect = 'none' or one prompt)")
    ref = result.personas[0]
    if persona is None:
        names = result.personas[1:]
    else:
        names = [persona] if isinstance(persona, str) else list(persona)
    bad = [p for p in names if p not in result.personas]
    if bad:
        raise ValueError(f"unknown persona(s) {bad}; the model has {result.personas}")
    prompts = list(result.data.prompts)
    mean = np.array([[qs.loc[(q, p), "mean"] for p in names] for q in prompts])
    lo = np.array([[qs.loc[(q, p), "low"] for p in names] for q in prompts])
    hi = np.array([[qs.loc[(q, p), "high"] for p in names] for q in prompts])
    vmax = float(np.nanmax(np.abs(mean))) or 1.0
    import matplotlib as mpl
    from matplotlib.colors import TwoSlopeNorm

    cmap = mpl.colormaps["RdBu_r"]
    colors = persona_colors(result.personas)
    with paper_style():
        if ax is None:
            longest = max(len(q) for q in prompts)
            fig = new_figure(1.3 + 0.055 * longest + 0.95 * len(names), 0.9 + 0.27 * len(prompts))
            ax = fig.add_subplot()
        im = ax.imshow(mean, cmap=cmap, norm=TwoSlopeNorm(0.0, -vmax, vmax), aspect="auto")
        for i in range(len(prompts)):
            for j in range(len(names)):
                v = mean[i, j]
                star = "*" if (lo[i, j] > 0 or hi[i, j] < 0) else ""
                ax.text(j, i, f"{v:+.2f}{star}", ha="center", va="center", fontsize=7,
                        color="white" if abs(v) > 0.6 * vmax else "black")
        ax.set_yticks(range(len(prompts)), prompts)
        ax.set_xticks(range(len(names)), names)
        for lab in ax.get_xticklabels():
            lab.set_color(colors[lab.get_text()])
            lab.set_fontweight("bold")
        ax.tick_params(length=0)
        ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
        for s in ax.spines.values():
            s.set_visible(False)
        cb = ax.figure.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=25)
        cb.set_label(f"shift of log-odds vs {ref}", fontsize=8)
        cb.outline.set_visible(False)
        cb.ax.tick_params(labelsize=7)
        ax.set_xlabel(f"* {prob:.0%} interval excludes 0", fontsize=7, loc="right")
    return ax.figure


__all__ = ["plot_question_shifts"]
