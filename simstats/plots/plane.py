"""The answers in the plane of two scores, coloured by their most probable persona, with a behaviour's box."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simstats.plots.style import new_figure, paper_style, persona_colors


def _box(behaviour, x: str, y: str, gx, gy) -> tuple[float, float, float, float] | None:
    """(x0, x1, y0, y1) of the region a behaviour's clauses on ``x`` and ``y`` select (None: it names neither)."""
    if behaviour is None or not {x, y} & set(behaviour.measures):
        return None
    lims = {x: [gx.lower, gx.upper], y: [gy.lower, gy.upper]}
    for c in behaviour.clauses:
        if c.measure in lims:
            lims[c.measure][1 if c.op == "<" else 0] = c.value
    return (*lims[x], *lims[y])


def plot_answer_plane(result, rows: pd.DataFrame, *, x: str | None = None, y: str | None = None,
                      behaviour=None, seed: int = 0, ax=None):
    """Answers (``LogSet.rows()``) in the plane of two scores, coloured by their most probable persona
    (:meth:`FitResult.responsibilities`), with the box of a thresholded behaviour (default the fit's first, whose
    two measures are also the default axes, e.g. "aligned < 30 and coherent > 50"). Answers with no ``x`` score
    (CODE / REFUSAL / unscorable) are drawn in a strip at the left (jittered sideways, ``seed``).

    >>> rows = load_dataset().logs.rows()                                    # doctest: +SKIP
    >>> fig = plot_answer_plane(result, rows)                                # doctest: +SKIP
    """
    b = behaviour if behaviour is not None or not result.behaviours else result.behaviours[0]
    b = result.behaviour(b) if isinstance(b, str) else b
    default = (b.measures if b is not None and len(b.measures) == 2 else list(result.data.measures[:2]))
    x = x or default[0]
    y = y or (default[1] if len(default) > 1 else None)
    if y is None:
        raise ValueError("the answer plane needs two measures; this model has one")
    for m in (x, y):
        if m not in result.data.measures:
            raise ValueError(f"measure {m!r} is not in the model (measures: {result.data.measures})")
        if result.data.patterns.grids[m].is_levels:
            raise ValueError(f"measure {m!r} has levels, not scores: the answer plane needs two scores")
    r = result.responsibilities(rows)
    pcols = [f"p_{p}" for p in result.personas]
    best = np.asarray(result.personas, dtype=object)[r[pcols].to_numpy().argmax(1)]
    conf = r[pcols].to_numpy().max(1)
    xv, yv = r[x].to_numpy(float), r[y].to_numpy(float)
    colors = persona_colors(result.personas)
    gx, gy = result.data.patterns.grids[x], result.data.patterns.grids[y]
    no_x = np.isnan(xv) & ~np.isnan(yv)
    no_y = np.isnan(yv)
    jitter = np.random.default_rng(seed).uniform(0.12, 0.88, len(xv))
    with paper_style():
        if ax is None:
            fig = new_figure(5.0, 3.9)
            strip, ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 9], "wspace": 0.02})
        else:
            strip = ax.inset_axes([-0.13, 0.0, 0.09, 1.0], sharey=ax)
        counts = pd.Series(best).value_counts()
        order = sorted(result.personas, key=lambda p: -counts.get(p, 0))   # biggest first: minorities on top
        for p in order:
            sel = best == p
            n = int(sel.sum())
            kw = {"s": 4, "color": colors[p], "alpha": 0.35, "lw": 0, "rasterized": True}
            ax.scatter(xv[sel & ~no_x & ~no_y], yv[sel & ~no_x & ~no_y], zorder=2, **kw)
            strip.scatter(jitter[sel & no_x], yv[sel & no_x], zorder=2, **kw)
            ax.scatter([], [], s=16, color=colors[p], label=f"{p} (n={n:,})")
        from matplotlib.patches import Rectangle

        box = _box(b, x, y, gx, gy)
        if box is not None:
            x0, x1, y0, y1 = box
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="black", lw=1.0, ls="--", zorder=4))
            ax.text(x1 - 1, y1 - 1.5, "\n".join(c.describe() for c in b.clauses), ha="right", va="top",
                    fontsize=7, zorder=5, bbox={"fc": "white", "ec": "none", "alpha": 0.75, "pad": 1.0})
        pad_x, pad_y = 0.02 * (gx.upper - gx.lower), 0.02 * (gy.upper - gy.lower)
        ax.set_xlim(gx.lower - pad_x, gx.upper + pad_x)
        ax.set_ylim(gy.lower - pad_y, gy.upper + pad_y)
        ax.set_xlabel(f"{x} score")
        strip.set_ylabel(f"{y} score")
        ax.tick_params(axis="y", labelleft=False)
        strip.set_xlim(0, 1)
        strip.set_xticks([0.5], [f"no {x}\nscore\n(n={int(no_x.sum()):,})"], fontsize=7)
        strip.tick_params(axis="x", length=0)
        strip.set_facecolor("#F4F4F4")
        notes = []
        if no_y.any():
            notes.append(f"{int(no_y.sum()):,} answers with no {y} score not shown")
        ax.legend(title="most probable persona", loc="lower right", markerscale=1.0, handletextpad=0.1,
                  fontsize=7.5, title_fontsize=8, frameon=True, framealpha=0.85, edgecolor="none")
        title = f"{len(r):,} answers"
        if len(conf):
            title += f"; median P(most probable persona) = {np.median(conf):.2f}"
        if notes:
            title += "; " + "; ".join(notes)
        ax.set_title(title, loc="left", fontsize=8)
    return ax.figure


__all__ = ["plot_answer_plane"]
