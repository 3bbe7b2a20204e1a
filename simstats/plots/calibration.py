"""Simulation-based calibration: rank histograms per quantity group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simstats.plots.style import GREY, OKABE_ITO, new_figure, paper_style


def plot_rank_histograms(records: pd.DataFrame, *, n_ranks: int = 99, bins: int = 10, axes=None):
    """Simulation-based calibration: one histogram of ranks per quantity group (ranks of the true values among
    ``n_ranks`` thinned posterior draws, from :meth:`simstats.calibration.CalibrationStudy.run`), with the 99%
    band of a uniform histogram (binomial) in grey. A calibrated posterior stays inside the band; a smile means
    intervals too narrow, a frown too wide, a slope a biased posterior.

    >>> fig = plot_rank_histograms(records)                                  # doctest: +SKIP
    """
    from scipy import stats

    if not isinstance(records, pd.DataFrame) or not {"group", "rank"} <= set(records.columns) or records.empty:
        raise ValueError("plot_rank_histograms needs the records of CalibrationStudy.run (columns group, rank)")
    groups = list(dict.fromkeys(records["group"]))
    edges = np.linspace(0, n_ranks + 1, bins + 1)
    with paper_style():
        if axes is None:
            ncol = min(4, len(groups))
            nrow = -(-len(groups) // ncol)
            fig = new_figure(1.9 * ncol + 0.4, 1.55 * nrow + 0.3)
            axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
        axes = np.atleast_1d(axes).ravel()
        for ax, g in zip(axes, groups):
            r = records.loc[records["group"] == g, "rank"].to_numpy()
            n = len(r)
            lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
            ax.axhspan(lo, hi, color="#E8E8E8", lw=0)
            ax.axhline(n / bins, color=GREY, lw=0.8)
            ax.hist(r, edges, color=OKABE_ITO["blue"], alpha=0.85)
            ax.set_title(f"{g} ({n} ranks)", fontsize=8)
            ax.set_yticks([])
            ax.set_xlim(0, n_ranks + 1)
        for ax in axes[len(groups):]:
            ax.set_visible(False)
        axes[0].figure.supxlabel(f"rank of the true value among {n_ranks} posterior draws", fontsize=8.5)
    return axes[0].figure


__all__ = ["plot_rank_histograms"]
