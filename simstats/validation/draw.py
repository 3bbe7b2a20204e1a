"""Drawing answers from a model's forward model (:class:`~simstats.kinds.base.Emissions`): the one generative
process of every simulator in simstats.

For each cell (condition, question, prompt features): one component (persona) per answer from the cell's weights,
then each measure's category from that component's table (category 0 is no score, b + 1 bin b). At the pattern
level (:func:`draw_pattern_counts`) a cell's persona counts are one multinomial draw and each persona's joint
category counts another, so 10^7 answers cost the same as 10^3; at the row level (:func:`draw_components`,
:func:`draw_categories`) every answer is drawn, and :func:`scores_in_bins` gives each a real-valued score inside its
bin.
"""

from __future__ import annotations

import numpy as np

from simstats.kinds.base import Emissions
from simstats.logs.grid import Grid


def _weights(em: Emissions) -> np.ndarray:
    w = np.exp(em.log_weights)
    return w / w.sum(-1, keepdims=True)          # exactly 1 up to rounding; rng.multinomial needs <= 1


def _joint(em: Emissions, measures: list[str], unit: tuple[int, ...]) -> np.ndarray:
    """(K, prod categories): each component's joint distribution over the measures' categories in a cell whose
    table rows are ``unit`` (one per measure); measures are independent given the component."""
    K = em.log_weights.shape[-1]
    joint = np.ones((K, 1))
    for m, u in zip(measures, unit):
        table = em.tables[m][0][u]
        joint = (joint[:, :, None] * table[:, None, :]).reshape(K, -1)
    return joint / joint.sum(1, keepdims=True)


def draw_pattern_counts(em: Emissions, counts: np.ndarray, measures: list[str], rng: np.random.Generator
                        ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Answers of every cell (``counts`` of them) as pattern counts: returns each pattern's cell, its category per
    measure and its count. ``em`` holds one draw (no leading axes)."""
    w = _weights(em)
    shape = [em.tables[m][0].shape[-1] for m in measures]
    cache: dict[tuple[int, ...], np.ndarray] = {}
    cells, cats, out = [], [], []
    for i, n in enumerate(counts):
        unit = tuple(int(em.tables[m][1][i]) for m in measures)
        if unit not in cache:
            cache[unit] = _joint(em, measures, unit)
        joint = cache[unit]
        tot = np.zeros(joint.shape[1], dtype=np.int64)
        for k, nk in enumerate(rng.multinomial(int(n), w[i])):
            if nk:
                tot += rng.multinomial(nk, joint[k])
        nz = np.flatnonzero(tot)
        cells.append(np.full(len(nz), i))
        cats.append(nz)
        out.append(tot[nz])
    ci, ji, cnt = np.concatenate(cells), np.concatenate(cats), np.concatenate(out)
    return ci, list(np.unravel_index(ji, shape)), cnt


def draw_components(em: Emissions, row_cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One component (persona) per answer from its cell's weights (inverse CDF); a single component needs no
    draw."""
    w = _weights(em)
    if w.shape[-1] == 1:
        return np.zeros(len(row_cell), np.int64)
    cdf = np.cumsum(w, axis=1)
    cdf[:, -1] = 1.0
    return _cdf_draw(cdf[row_cell], rng.random(len(row_cell)))


def draw_categories(em: Emissions, measure: str, row_cell: np.ndarray, z: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """One category of ``measure`` per answer, from the table of its cell's unit and its component."""
    table, unit = em.tables[measure]
    K = table.shape[-2]
    flat = table.reshape(-1, table.shape[-1])                      # row unit * K + component
    return draw_from_rows(rng, unit[row_cell] * K + z, flat)


def _cdf_draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: the first category whose cumulative probability exceeds ``u`` (zero-probability
    categories are never drawn)."""
    return np.minimum((u[:, None] >= cdf).sum(1), cdf.shape[1] - 1)


def draw_from_rows(rng: np.random.Generator, z: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One category per answer from row ``z`` of ``probs`` (rows, categories)."""
    u = rng.random(len(z))
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    out = np.empty(len(z), dtype=np.int64)
    for k in range(probs.shape[0]):
        sel = z == k
        out[sel] = np.minimum(np.searchsorted(cdf[k], u[sel], side="right"), probs.shape[1] - 1)
    return out


def scores_in_bins(rng: np.random.Generator, cat: np.ndarray, grid: Grid, data_grid: Grid) -> np.ndarray:
    """Real-valued scores uniform inside bin ``cat - 1`` of ``grid`` (NaN for category 0, no score). A draw that
    rounding puts on a bin edge (probability ~2^-50) is moved to the bin centre, so that the logs layer's binning
    (on ``data_grid`` as well) returns exactly the drawn bin."""
    v = rng.random(len(cat))
    b = np.maximum(cat - 1, 0)
    e = grid.edges
    x = np.minimum(e[b] + (e[b + 1] - e[b]) * v, np.nextafter(e[b + 1], -np.inf))
    factor = data_grid.n_bins // grid.n_bins
    off = (grid.bin(x) != b) | (data_grid.bin(x) // factor != b)
    x[off] = grid.centres[b[off]]
    return np.where(cat == 0, np.nan, x)


__all__ = ["draw_categories", "draw_components", "draw_from_rows", "draw_pattern_counts", "scores_in_bins"]
