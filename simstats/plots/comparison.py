"""Model comparison figures: ELPD with standard errors, and its difference split by condition."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simstats.plots.style import GREY, new_figure, paper_style


def _comparison_columns(table: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """elpd, se, elpd_diff (model minus best, <= 0) and dse from an az.compare table of ArviZ 1.x or 0.x."""
    t = table
    elpd_col = next((c for c in ("elpd", "elpd_loo", "elpd_waic", "elpd_kfold") if c in t.columns), None)
    if elpd_col is None:
        raise ValueError(f"comparison table has no elpd column (columns: {list(t.columns)})")
    elpd = t[elpd_col].astype(float)
    se = t["se"].astype(float) if "se" in t.columns else pd.Series(np.nan, index=t.index)
    best = elpd.max()
    if "elpd_diff" in t.columns:
        diff = t["elpd_diff"].astype(float)
        diff = -diff.abs() if (diff >= 0).all() else diff           # ArviZ 0.x reports the difference as positive
    else:
        diff = elpd - best
    dse = t["dse"].astype(float) if "dse" in t.columns else pd.Series(np.nan, index=t.index)
    return elpd, se, diff, dse


def plot_model_comparison(table: pd.DataFrame, *, ax=None):
    """ELPD (PSIS-LOO) of each model with its standard error (black), and each model's difference to the best
    with the standard error of that difference (grey, drawn at best + difference), from an ``az.compare`` table
    (ArviZ 1.x columns ``elpd, se, elpd_diff, dse, weight``; ArviZ 0.x ``elpd_loo`` also works). Best at the top.

    >>> table = az.compare({"shared": loo_a, "per_checkpoint": loo_b})       # doctest: +SKIP
    >>> fig = plot_model_comparison(table)                                   # doctest: +SKIP
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_model_comparison needs a non-empty DataFrame as returned by az.compare")
    elpd, se, diff, dse = _comparison_columns(table)
    order = list(elpd.sort_values(ascending=False).index)
    best = float(elpd.max())
    with paper_style():
        if ax is None:
            longest = max(len(str(m)) for m in order)
            fig = new_figure(max(4.2, 3.2 + 0.06 * longest), 0.9 + 0.38 * len(order))
            ax = fig.add_subplot()
        y = np.arange(len(order), dtype=float)
        ax.errorbar(elpd[order], y, xerr=se[order], fmt="o", color="black", ms=4.5, lw=1.3, capsize=0,
                    label="ELPD ± SE", zorder=4)
        others = [i for i, m in enumerate(order) if float(diff[m]) != 0.0 or i > 0]
        if others:
            ms = [order[i] for i in others]
            ax.errorbar(best + diff[ms].to_numpy(), y[others] + 0.22, xerr=dse[ms].to_numpy(), fmt="^",
                        mfc="white", color=GREY, ms=4.5, lw=1.2, capsize=0, label="difference to best ± dSE",
                        zorder=3)
        ax.axvline(best, color=GREY, ls="--", lw=0.8, zorder=1)
        ax.set_yticks(y, [str(m) for m in order])
        ax.set_ylim(len(order) - 0.4, -0.6)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if "weight" in table.columns:
            ax2 = ax.secondary_yaxis("right")
            ax2.set_yticks(y, [f"w={float(table.loc[m, 'weight']):.2f}" for m in order], fontsize=7)
            ax2.tick_params(length=0)
            ax2.spines["right"].set_visible(False)
        ax.set_xlabel("ELPD (PSIS-LOO; higher is better)")
        ax.legend(loc="lower left", fontsize=7, bbox_to_anchor=(0.0, 1.0), ncols=2, borderaxespad=0.2)
        ax.grid(axis="x", color="#E8E8E8", lw=0.6)
        ax.set_axisbelow(True)
    return ax.figure


def _by_condition_reference(table: pd.DataFrame, reference: str | None) -> str | None:
    """The model the differences in an ``elpd_by_condition`` table are taken against: ``reference`` if given
    (checked against its own rows, when the table has them), else the model whose difference and dse are 0 in
    every condition; None when the table does not say (its reference rows were dropped)."""
    at_zero = np.isclose(table["elpd_diff"].astype(float), 0.0) & np.isclose(table["dse"].astype(float), 0.0)
    zero = pd.Series(at_zero, index=table.index).groupby(table["model"], sort=False).all()
    if reference is not None:
        if reference in zero.index and not zero[reference]:
            raise ValueError(f"the differences in this table are not against {reference!r}: its own elpd_diff is "
                             "not 0 in every condition")
        return reference
    candidates = list(zero.index[zero.to_numpy(bool)])
    return str(candidates[0]) if candidates else None


def plot_elpd_by_condition(table: pd.DataFrame, *, reference: str | None = None, models: Sequence[str] | None = None,
                           conditions: Sequence[str] | None = None, axes=None):
    """Where does one model beat another? One panel per model: its ELPD difference to the reference model in each
    condition (a bar, ± the paired standard error dse), from :func:`simstats.compare.elpd_by_condition` (or its
    JSON records, e.g. ``study["by_condition"]["rows"]`` of ``validation/theory_real.json``, as a DataFrame).
    Negative bars: the reference predicts that condition's answers better. A model that is behind in every
    condition is worse in kind; one behind in a few misses something those conditions have.

    ``reference`` defaults to the model whose difference is 0 in every condition (pass it when the table's
    reference rows were dropped); ``models`` (default: every other model, in the table's order) and
    ``conditions`` (default: all, in the table's order) choose and order the panels and the rows; ``axes``, one
    per model, draws into existing axes.

    >>> table = elpd_by_condition({"k4": k4, "k1": k1, "k2": k2}, reference="k4")    # doctest: +SKIP
    >>> fig = plot_elpd_by_condition(table, models=["k2", "k1"])                    # doctest: +SKIP
    """
    need = {"model", "condition", "elpd_diff", "dse"}
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_elpd_by_condition needs a non-empty DataFrame as returned by "
                         "simstats.compare.elpd_by_condition")
    if not need <= set(table.columns):
        raise ValueError(f"plot_elpd_by_condition needs the columns {sorted(need)} of elpd_by_condition "
                         f"(missing: {sorted(need - set(table.columns))})")
    if table.duplicated(["model", "condition"]).any():
        raise ValueError("the table has more than one row for a (model, condition); pass one comparison")
    reference = _by_condition_reference(table, reference)
    present = list(dict.fromkeys(table["model"]))
    if models is None:
        models = [m for m in present if m != reference]
        if not models:
            raise ValueError(f"the table has no model besides the reference {reference!r} to plot")
    models = list(models)
    missing = [m for m in models if m not in present]
    if missing:
        raise ValueError(f"model(s) {missing} are not in the table (models: {present})")
    if reference is not None and reference in models:
        raise ValueError(f"{reference!r} is the reference: its difference to itself is 0 everywhere")
    all_conditions = list(dict.fromkeys(table["condition"]))
    conditions = all_conditions if conditions is None else list(conditions)
    unknown = [c for c in conditions if c not in all_conditions]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown} (conditions: {all_conditions})")
    if not conditions:
        raise ValueError("no conditions to plot")
    diff = table.pivot(index="condition", columns="model", values="elpd_diff").astype(float).reindex(conditions)
    dse = table.pivot(index="condition", columns="model", values="dse").astype(float).reindex(conditions)
    ref_name = "reference" if reference is None else str(reference)
    y = np.arange(len(conditions), dtype=float)
    labels = [str(c) for c in conditions]
    with paper_style():
        own = axes is None
        if own:
            longest = max(len(s) for s in labels)
            fig = new_figure(1.9 * len(models) + 0.5 + 0.055 * longest, 0.9 + 0.2 * len(conditions))
            axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
        axes = np.atleast_1d(axes).ravel()
        if len(axes) != len(models):
            raise ValueError(f"axes: need one per model ({len(models)}), got {len(axes)}")
        for i, (ax, m) in enumerate(zip(axes, models)):
            ax.barh(y, diff[m].to_numpy(), xerr=dse[m].to_numpy(), height=0.7, color=GREY, ecolor="black",
                    error_kw={"lw": 0.8, "capsize": 0})
            ax.axvline(0, color="black", lw=0.6)
            ax.set_title(f"{m}\nminus {ref_name}", fontsize=8)
            ax.set_yticks(y, labels, fontsize=7)
            ax.set_ylim(len(conditions) - 0.4, -0.6)                  # first condition at the top
            ax.tick_params(axis="y", length=0, labelleft=i == 0)
            ax.grid(axis="x", color="#E8E8E8", lw=0.6)
            ax.set_axisbelow(True)
            if not own:
                ax.set_xlabel("ELPD difference (± dse)", fontsize=8)
        if own:
            axes[0].figure.supxlabel("ELPD difference per checkpoint (± dse)", fontsize=8)
    return axes[0].figure


__all__ = ["plot_elpd_by_condition", "plot_model_comparison"]
