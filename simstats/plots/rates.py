"""Rates of a thresholded behaviour: the model's posterior-predictive rate against the observed and published
rates, and the classic rate model's pooled rates against the empirical and unpooled ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from simstats.kinds.base import PROB
from simstats.plots.layout import apply_forest_axis, forest_layout, forest_rows
from simstats.plots.style import OKABE_ITO, new_figure, paper_style, pct_axis


def _published_by_condition(result, published) -> dict[str, float | tuple[float, float]]:
    """Normalise published numbers to {condition: value or (low, high)}.

    Accepts a mapping condition -> value (or (low, high)), a Series indexed by condition, a DataFrame (index or a
    ``condition`` column, and a value column: ``published``, ``value``, ``rate``, ``misaligned`` or the only numeric
    one), or records of groups (``Dataset.published``: dicts whose keys name hierarchy columns such as ``finetune``
    and ``base_model`` and whose value is ``misaligned``/``value``/``rate``, or ``misaligned_range``); a record
    applies to every condition that matches all its keys, the most specific record winning.
    """
    if published is None:
        return {}
    conds = result.conditions
    if isinstance(published, pd.Series):
        return {str(k): float(v) for k, v in published.items() if str(k) in conds and pd.notna(v)}
    if isinstance(published, pd.DataFrame):
        df = published
        if "condition" in df.columns and not set(df.columns) & set(result.data.levels):
            df = df.set_index("condition")
        if set(map(str, df.index)) & set(conds):
            cols = [c for c in ("published", "value", "rate", "misaligned") if c in df.columns]
            if not cols:
                cols = list(df.select_dtypes("number").columns)
            if not cols:
                raise ValueError("published DataFrame has no numeric column")
            return {str(k): float(v) for k, v in df[cols[0]].items() if str(k) in conds and pd.notna(v)}
        published = df.to_dict("records")
    if isinstance(published, Mapping):
        out = {}
        for k, v in published.items():
            if str(k) not in conds:
                continue
            out[str(k)] = (float(v[0]), float(v[1])) if isinstance(v, (tuple, list)) else float(v)
        return out
    # records of groups
    t = result.data.patterns.table
    cols = [c for c in t.columns if c not in ("count", *result.data.measures)]
    per = t.drop_duplicates("condition").set_index("condition")
    out, spec = {}, {}
    for rec in published:
        value: float | tuple[float, float] | None = None
        for key in ("published", "value", "rate", "misaligned"):
            if key in rec and rec[key] is not None and not (isinstance(rec[key], float) and np.isnan(rec[key])):
                value = float(rec[key])
                break
        if value is None and rec.get("misaligned_range") is not None:
            lo_v, hi_v = rec["misaligned_range"]
            value = (float(lo_v), float(hi_v))
        if value is None:
            continue
        keys = {k: str(v) for k, v in rec.items() if k in cols or k == "condition"}
        if not keys:
            continue
        for c in conds:
            row = per.loc[c]
            matches = all((c if k == "condition" else str(row[k])) == v for k, v in keys.items())
            if matches and len(keys) >= spec.get(c, 0):
                out[c], spec[c] = value, len(keys)
    return out


def plot_threshold_rates(result, *, behaviour=None, published=None, conditions: Sequence[str] | None = None,
                         prob: float = PROB, ax=None):
    """Reproduction plot of a thresholded behaviour (default the fit's first, e.g. the classic "aligned < 30 and
    coherent > 50"): per condition the empirical rate (open diamond), the model's posterior-predictive rate (black
    point, ``prob`` interval) and, when given, published numbers (blue cross, or a bar for a published range).

    ``published``: {condition: value or (low, high)}, a Series / DataFrame by condition, or records of groups such
    as ``load_dataset().published`` (matched to conditions through the hierarchy columns).

    >>> fig = plot_threshold_rates(result, published=load_dataset().published)   # doctest: +SKIP
    """
    b = result.behaviour(behaviour) if not hasattr(behaviour, "clauses") else behaviour
    tr = result.behaviour_rates(b, prob)
    pub = _published_by_condition(result, published)
    with paper_style():
        ticks, labels, header, ypos, spans, n = forest_rows(result, conditions)
        if ax is None:
            fig = new_figure(5.6, 1.2 + 0.17 * n)
            ax = fig.add_subplot()
        conds = list(ypos)
        ys = np.array([ypos[c] for c in conds])
        d = tr.loc[conds]
        ax.hlines(ys, d["low"], d["high"], color="black", lw=1.4, zorder=3)
        ax.plot(d["mean"], ys, "o", color="black", ms=3.8, zorder=4,
                label=f"model ({prob:.0%} interval)")
        ax.plot(d["empirical"], ys, "D", mfc="white", mec=OKABE_ITO["orange"], mew=1.3, ms=4.2, zorder=5,
                label="observed")
        if pub:
            first_pt = first_rng = True
            for c, v in pub.items():
                if c not in ypos:
                    continue
                if isinstance(v, tuple):
                    ax.plot(list(v), [ypos[c] + 0.32] * 2, color=OKABE_ITO["sky_blue"], lw=1.6, alpha=0.8,
                            solid_capstyle="butt", zorder=2, label="published range" if first_rng else None)
                    first_rng = False
                else:
                    ax.plot(v, ypos[c], "x", color=OKABE_ITO["blue"], ms=5, mew=1.4, zorder=6,
                            label="published" if first_pt else None)
                    first_pt = False
        apply_forest_axis(ax, ticks, labels, header, spans, n)
        ax.set_xlim(left=-0.005)
        pct_axis(ax.xaxis)
        ax.set_xlabel(f"share of answers with {b.describe()} (model: posterior predictive)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, borderaxespad=0.3, columnspacing=1.0,
                  handletextpad=0.3)
    return ax.figure


def plot_rate_model(result, *, conditions: list[str] | None = None, jeffreys: bool = True,
                    ax=None):
    """Forest of pooled against empirical rates per condition, grouped by the top hierarchy level: the posterior
    mean (black point) with its interval, the empirical rate (open diamond) and, with ``jeffreys``, the unpooled
    Jeffreys interval (thin orange bar, offset below). Returns the axes.

    >>> ax = plot_rate_model(result)   # doctest: +SKIP
    """
    t = result.table
    conds = list(t.index if conditions is None else conditions)
    unknown = [c for c in conds if c not in t.index]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; the fit has {list(t.index)}")
    top = [lev for lev in result.levels if lev in t.columns]
    order = sorted(conds, key=lambda c: (*[str(t.loc[c, lev]) for lev in top], c))
    groups: dict[str | None, list[str]] = {}
    for c in order:
        groups.setdefault(str(t.loc[c, top[0]]) if top else None, []).append(c)
    ticks, labels, header, ypos, spans, y = forest_layout(list(groups.items()))
    with paper_style():
        if ax is None:
            fig = new_figure(5.6, 1.2 + 0.17 * y)
            ax = fig.add_subplot()
        ys = np.array([ypos[c] for c in conds])
        d = t.loc[conds]
        if jeffreys:
            ax.hlines(ys + 0.22, d["jeffreys_low"], d["jeffreys_high"], color=OKABE_ITO["orange"], lw=1.0,
                      alpha=0.9, zorder=2, label="unpooled (Jeffreys)")
        ax.hlines(ys, d["low"], d["high"], color="black", lw=1.4, zorder=3)
        ax.plot(d["mean"], ys, "o", color="black", ms=3.8, zorder=4, label=f"pooled, {result.prob:.0%} interval")
        ax.plot(d["rate"], ys, "D", mfc="white", mec=OKABE_ITO["orange"], mew=1.3, ms=4.2, zorder=5,
                label="observed")
        apply_forest_axis(ax, ticks, labels, header, spans, y)
        ax.set_xlim(left=-0.005)
        pct_axis(ax.xaxis)
        ax.set_xlabel(f"share of answers with {result.rule.describe()}")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, borderaxespad=0.3, columnspacing=1.0,
                  handletextpad=0.3)
    return ax


__all__ = ["plot_rate_model", "plot_threshold_rates"]
