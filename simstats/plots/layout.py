"""Where conditions and categories go on an axis: conditions ordered and grouped by the hierarchy for forest
plots, and a score's categories (no score set apart) on its own scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def condition_groups(result,
                     conditions: Sequence[str] | None = None) -> list[tuple[str | None, list[str]]]:
    """Conditions ordered by the hierarchy (coarsest level first) and grouped by the top level.

    Returns ``[(group, [condition, ...]), ...]``; ``group`` is ``None`` when the data declare no hierarchy.
    """
    conds = list(result.conditions if conditions is None else conditions)
    unknown = [c for c in conds if c not in result.conditions]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; the fit has {result.conditions}")
    t = result.data.patterns.table
    # the levels the log declares, whether the model pools over them or takes them as fixed effects
    declared = list(result.data.levels) or list(getattr(result.data.patterns, "condition_levels", []) or [])
    levels = [lev for lev in declared if lev in t.columns]
    if not levels:
        return [(None, conds)]
    per = t.drop_duplicates("condition").set_index("condition")[levels].astype(str)
    order = sorted(conds, key=lambda c: (*[per.loc[c, lev] for lev in levels], c))
    groups: dict[str, list[str]] = {}
    for c in order:
        groups.setdefault(per.loc[c, levels[0]], []).append(c)
    return list(groups.items())


def short_label(condition: str, group: str | None) -> str:
    if group is not None and condition.startswith(f"{group}/") and len(condition) > len(group) + 1:
        return condition[len(group) + 1:]
    return condition


def forest_rows(result, conditions: Sequence[str] | None):
    """y positions (top to bottom) of group headers and condition rows for forest-style plots."""
    return forest_layout(condition_groups(result, conditions))


def forest_layout(groups: list[tuple[str | None, list[str]]]):
    """y positions of group headers and condition rows for ``(group or None, conditions)`` blocks: ticks, labels,
    which ticks are headers, the y of each condition, each block's span, and the total height."""
    y, ticks, labels, header, ypos, spans = 0.0, [], [], [], {}, []
    for gi, (g, conds) in enumerate(groups):
        if g is not None:
            if gi:
                y += 0.35
            ticks.append(y)
            labels.append(g)
            header.append(True)
            y += 1
        start = y
        for c in conds:
            ticks.append(y)
            labels.append(short_label(c, g))
            header.append(False)
            ypos[c] = y
            y += 1
        spans.append((start - 0.5, y - 0.5))
    return ticks, labels, header, ypos, spans, y


def apply_forest_axis(ax, ticks, labels, header, spans, n_rows) -> None:
    ax.set_yticks(ticks, labels)
    for lab, h in zip(ax.get_yticklabels(), header):
        if h:
            lab.set_fontweight("bold")
            lab.set_fontsize(8)
        else:
            lab.set_fontsize(7.5)
    for tick, h in zip(ax.yaxis.get_major_ticks(), header):
        if h:
            tick.tick1line.set_visible(False)
    for i, (a, b) in enumerate(spans):
        if i % 2 == 1:
            ax.axhspan(a, b, color="#F2F2F2", zorder=0, lw=0)
    ax.set_ylim(n_rows - 0.5, -0.6)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#E0E0E0", lw=0.6, zorder=0)
    ax.set_axisbelow(True)


def category_x(grid, gap: float = 0.12) -> tuple[np.ndarray, float, float]:
    """x of every category of a score on its own scale: ``no_score`` left of the range, bins at their centres."""
    rng = grid.upper - grid.lower
    gap = max(grid.width * 1.6, gap * rng)
    return np.concatenate([[grid.lower - gap], grid.centres]), grid.lower - gap / 2, max(grid.width, 0.06 * rng)


def category_ticks(ax, grid, x0: float, sep: float, n: int = 5) -> None:
    """Ticks of a measure's categories: "none" (no score), then numbers along a score's range, or an outcome's
    levels at their own positions."""
    if grid.is_levels:
        ax.set_xticks([x0, *grid.centres], ["none", *grid.labels])
    else:
        at = np.linspace(grid.lower, grid.upper, n)
        ax.set_xticks([x0, *at], ["none", *[f"{v:g}" for v in at]])
    ax.axvline(sep, color="#BBBBBB", lw=0.7, ls=":", zorder=1)


def flat_draws(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, *a.shape[2:])


__all__ = ["apply_forest_axis", "category_ticks", "category_x", "condition_groups", "flat_draws", "forest_layout",
           "forest_rows", "short_label"]
