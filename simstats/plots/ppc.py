"""Posterior predictive check of a measure's categories per condition."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simstats.kinds.base import PROB
from simstats.plots.layout import category_ticks, category_x, condition_groups, flat_draws, short_label
from simstats.plots.style import new_figure, paper_style, pct_axis


def _thin(n: int, max_draws: int | None) -> np.ndarray:
    if max_draws is None or n <= max_draws:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_draws).round().astype(int))


def predictive_categories(result, measure: str, *, prob: float = PROB, max_draws: int | None = 400,
                          seed: int = 0) -> dict[str, np.ndarray]:
    """Observed and posterior-predictive distribution of a measure's categories per condition.

    For each retained draw, every cell's category probabilities are ``sum_k P(k | cell) fp_k`` (the kind's forward
    model, :meth:`~simstats.kinds.base.ModelKind.emissions`) and a replicate of
    the cell's answers is drawn from that multinomial (``seed``); replicates are summed over the condition's cells.
    Returns arrays of shape (condition, category): ``observed`` (proportions), ``mean`` (expected proportions), and
    ``low`` / ``high`` (``prob`` interval of the replicated proportions); category 0 is ``no_score``.
    """
    d = result.data
    if measure not in d.measures:
        raise ValueError(f"unknown measure {measure!r}; the model has {d.measures}")
    post = result.posterior
    S = post.sizes["chain"] * post.sizes["draw"]
    keep = _thin(S, max_draws)
    thinned = {n: flat_draws(np.asarray(post[n]))[keep] for n in post.data_vars}
    em = result.model_kind.emissions(thinned, result.spec, d)           # the fit's forward model
    p_cell = np.einsum("snk,snkc->snc", np.exp(em.log_weights), em.cell_table(measure))
    p_cell = np.clip(p_cell, 0, None)
    p_cell /= p_cell.sum(-1, keepdims=True)
    C, ncat = len(d.conditions), p_cell.shape[-1]
    agg = np.zeros((C, len(d.cell_condition)))
    agg[d.cell_condition, np.arange(agg.shape[1])] = 1.0
    n_c = agg @ d.cell_count
    expected = np.einsum("cn,snk->sck", agg * d.cell_count, p_cell) / n_c[None, :, None]
    rng = np.random.default_rng(seed)
    reps = rng.multinomial(d.cell_count[None, :], p_cell)               # (S', cells, cats)
    rep_prop = np.einsum("cn,snk->sck", agg, reps) / n_c[None, :, None]
    obs = np.zeros((C, ncat))
    cond_of_pattern = d.cell_condition[d.pattern_cell]
    np.add.at(obs, (cond_of_pattern, d.pattern_cat[measure]), d.count)
    obs /= obs.sum(1, keepdims=True)
    lo, hi = np.quantile(rep_prop, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {"observed": obs, "mean": expected.mean(0), "low": lo, "high": hi}


def plot_ppc(result, *, measure: str | None = None, conditions: Sequence[str] | None = None,
             prob: float = PROB, ncols: int | None = None, max_draws: int | None = 400, seed: int = 0, axes=None):
    """Posterior predictive check of one measure: per condition (small multiples, grouped by hierarchy), the
    observed share of answers in each category (grey bars; ``none`` = no score) against the model's prediction
    (black: mean, and the ``prob`` interval of replicated data of the same size). Computed from the posterior draws
    (cell persona weights x fingerprints), no extra sampling of the model.

    ``measure`` defaults to the model's first. ``axes``: a sequence with one Axes per condition.

    >>> fig = plot_ppc(result, measure="coherent")                         # doctest: +SKIP
    """
    measure = measure or result.data.measures[0]
    pred = predictive_categories(result, measure, prob=prob, max_draws=max_draws, seed=seed)
    groups = condition_groups(result, conditions)
    order = [(g, c) for g, cs in groups for c in cs]
    titles = [c if g is None else f"{g}\n{short_label(c, g)}" for g, c in order]
    grid = result.data.patterns.grids[measure]
    x, sep, width = category_x(grid, gap=0.3)
    bar_w = np.concatenate([[width], np.full(grid.n_bins, grid.width)]) * 0.85
    from matplotlib.ticker import MaxNLocator

    own = axes is None
    with paper_style():
        if own:
            n = len(order)
            longest = max(len(line) for t in titles for line in t.split("\n"))
            panel_w = max(1.25, 0.052 * longest + 0.3)           # a 6.5 pt title line fits its panel
            nc = ncols or max(1, min(6, n, int(7.2 // panel_w)))
            nr = int(np.ceil(n / nc))
            fig = new_figure(min(7.2, panel_w * nc + 0.4), 0.55 + 1.3 * nr)
            axes = list(fig.subplots(nr, nc, sharex=True, squeeze=False).ravel())
            for a in axes[n:]:
                a.set_visible(False)
            for i, a in enumerate(axes[:n]):
                if i + nc < n:
                    a.tick_params(labelbottom=False)
        axes = list(np.ravel(axes))
        if len(axes) < len(order):
            raise ValueError(f"need {len(order)} axes, got {len(axes)}")
        for ax, (g, c), title in zip(axes, order, titles):
            i = result.conditions.index(c)
            ax.bar(x, pred["observed"][i], width=bar_w, color="#C8C8C8", lw=0, zorder=1)
            ax.vlines(x, pred["low"][i], pred["high"][i], color="black", lw=1.0, zorder=3)
            ax.plot(x, pred["mean"][i], "o", color="black", ms=2.2, zorder=4)
            category_ticks(ax, grid, x[0], sep, n=3)
            ax.set_title(title, fontsize=6.5, loc="left")
            ax.tick_params(labelsize=6.5)
            top = max(float(pred["observed"][i].max()), float(pred["high"][i].max()))
            ax.set_ylim(0, top * 1.08 if top > 0 else 1)
            pct_axis(ax.yaxis)
            ax.yaxis.set_major_locator(MaxNLocator(3))
        fig = axes[0].figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Patch(color="#C8C8C8", label="observed"),
                   Line2D([], [], color="black", marker="o", ms=2.5, lw=1.0,
                          label=f"model: mean, {prob:.0%} predictive interval")]
        if own:
            fig.legend(handles=handles, loc="outside upper center", ncols=2, fontsize=7.5)
            fig.supxlabel(f"{measure} score (none = no score)", fontsize=8.5)
            fig.supylabel("share of answers", fontsize=8.5)
        else:
            axes[0].legend(handles=handles, fontsize=6.5)
    return fig


__all__ = ["plot_ppc", "predictive_categories"]
