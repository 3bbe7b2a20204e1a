"""Probability of each bin of a bounded score under the parametric score distributions (Beta, logit-normal), in
NumPy and in PyTensor, and the start values that match binned counts. Shared by the fingerprint families and the
degradation model.

>>> import numpy as np
>>> from simstats.logs.grid import Grid
>>> logit_normal_bin_probs(Grid(0, 100, 2), np.array(0.0), np.array(1.0)).round(3).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

import numpy as np
from scipy import special

from simstats.logs.grid import Grid


def beta_bin_probs(grid: Grid, mean: np.ndarray, concentration: np.ndarray) -> np.ndarray:
    """Probability of each bin of ``grid`` under Beta(mean * c, (1 - mean) * c) on ``[lower, upper]``.

    ``mean`` in (0, 1) and ``concentration`` > 0 broadcast; returns (..., n_bins), rows summing to 1.

    >>> beta_bin_probs(Grid(0, 100, 2), np.array(0.5), np.array(2.0)).round(3).tolist()
    [0.5, 0.5]
    """
    mean, conc = np.asarray(mean, float)[..., None], np.asarray(concentration, float)[..., None]
    x = (grid.edges - grid.lower) / (grid.upper - grid.lower)
    cdf = special.betainc(mean * conc, (1 - mean) * conc, x)
    return np.diff(cdf, axis=-1)


def beta_bins_pt(mean, concentration, grid: Grid):
    """PyTensor version of :func:`beta_bin_probs` for column vectors ``mean`` and ``concentration`` (n, 1): the
    probability of each bin, (n, n_bins), floored at 1e-300 so its log is finite."""
    import pytensor.tensor as pt

    x = (grid.edges[1:-1] - grid.lower) / (grid.upper - grid.lower)
    inner = pt.betainc(mean * concentration, (1 - mean) * concentration, pt.as_tensor(x)[None, :])
    n = inner.shape[0]
    cdf = pt.concatenate([pt.zeros((n, 1)), inner, pt.ones((n, 1))], axis=1)
    return pt.clip(cdf[:, 1:] - cdf[:, :-1], 1e-300, 1.0)


def logit_edges(grid: Grid) -> np.ndarray:
    """The inner bin edges of ``grid`` on the logit scale of [0, 1] (n_bins - 1,).

    >>> logit_edges(Grid(0, 100, 4)).round(3).tolist()
    [-1.099, 0.0, 1.099]
    """
    return special.logit((grid.edges[1:-1] - grid.lower) / (grid.upper - grid.lower))


def _normal_bins(inner: np.ndarray, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mass of each bin between ``inner`` edges (outer edges at -inf and +inf) under Normal(location, scale), each
    from the tail that is farther from the bulk, so that small masses keep their relative precision."""
    z = (inner - np.asarray(location, float)[..., None]) / np.asarray(scale, float)[..., None]
    pad = np.zeros(z.shape[:-1] + (1,))
    lower = np.concatenate([pad, special.ndtr(z), pad + 1.0], axis=-1)         # P(x < edge)
    upper = np.concatenate([pad + 1.0, special.ndtr(-z), pad], axis=-1)        # P(x > edge)
    above = np.concatenate([pad.astype(bool), z > 0], axis=-1)      # each bin: its lower edge above the location
    return np.where(above, upper[..., :-1] - upper[..., 1:], lower[..., 1:] - lower[..., :-1])


def logit_normal_bin_probs(grid: Grid, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Probability of each bin of ``grid`` when logit((score - lower) / (upper - lower)) ~ Normal(location, scale).

    ``location`` and ``scale`` > 0 broadcast; returns (..., n_bins), rows summing to 1. Each bin's mass is taken
    from the tail that is farther from the bulk (survival differences above the location, CDF differences below),
    so the small masses keep their relative precision.

    >>> logit_normal_bin_probs(Grid(0, 100, 2), np.array(0.0), np.array(1.0)).round(3).tolist()
    [0.5, 0.5]
    >>> float(logit_normal_bin_probs(Grid(0, 100, 10), np.array(-6.0), np.array(0.5))[-1]) > 0
    True
    """
    return _normal_bins(logit_edges(grid), location, scale)


def normal_bin_probs(grid: Grid, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Probability of each bin of an open-ended grid (its outer bins reach to -inf and +inf) under Normal(location,
    scale): a continuous measure's fingerprint. Shapes as in :func:`logit_normal_bin_probs`.

    >>> normal_bin_probs(Grid(-1, 1, 2, open_ends=True), np.array(0.0), np.array(1.0)).round(3).tolist()
    [0.5, 0.5]
    """
    return _normal_bins(grid.edges[1:-1], location, scale)


def _normal_bins_pt(inner: np.ndarray, location, scale):
    """PyTensor version of :func:`_normal_bins` for column vectors (n, 1): (n, n_bins), floored at 1e-300. The
    padded outer edges are constants, so no infinity meets a gradient."""
    import pytensor.tensor as pt

    z = (pt.as_tensor(inner)[None, :] - location) / scale                               # (n, B - 1)
    n = z.shape[0]
    zeros, ones = pt.zeros((n, 1)), pt.ones((n, 1))
    lower = pt.concatenate([zeros, 0.5 * pt.erfc(-z / np.sqrt(2.0)), ones], axis=1)
    upper = pt.concatenate([ones, 0.5 * pt.erfc(z / np.sqrt(2.0)), zeros], axis=1)
    above = pt.concatenate([pt.zeros((n, 1), dtype="bool"), pt.gt(z, 0)], axis=1)
    mass = pt.where(above, upper[:, :-1] - upper[:, 1:], lower[:, 1:] - lower[:, :-1])
    return pt.clip(mass, 1e-300, 1.0)


def logit_normal_bins_pt(location, scale, grid: Grid):
    """PyTensor version of :func:`logit_normal_bin_probs` for column vectors (n, 1): (n, n_bins), floored at
    1e-300."""
    return _normal_bins_pt(logit_edges(grid), location, scale)


def normal_bins_pt(location, scale, grid: Grid):
    """PyTensor version of :func:`normal_bin_probs` for column vectors (n, 1): (n, n_bins), floored at 1e-300."""
    return _normal_bins_pt(grid.edges[1:-1], location, scale)


def logit_normal_moments(location: np.ndarray, scale: np.ndarray, n_nodes: int = 48) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
    """Mean and sd on [0, 1] of sigmoid(Normal(location, scale)) by Gauss-Hermite quadrature (no closed form).

    >>> m, s = logit_normal_moments(np.array(0.0), np.array(1.0))
    >>> round(float(m), 6), round(float(s), 3)
    (0.5, 0.208)
    """
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / w.sum()
    y = special.expit(np.asarray(location, float)[..., None] + np.asarray(scale, float)[..., None] * x)
    mean = (y * w).sum(-1)
    return mean, np.sqrt(np.clip((y ** 2 * w).sum(-1) - mean ** 2, 0.0, None))


def binned_logit_normal_start(grid: Grid, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(location, log scale) of a logit-normal with the mean and sd of the logit of the bin centres under bin
    probabilities or counts ``probs`` (..., n_bins): a start value. The sd is floored at 0.2.

    >>> loc, log_s = binned_logit_normal_start(Grid(0, 100, 2), np.array([1.0, 1.0]))
    >>> round(float(loc), 6), round(float(np.exp(log_s)), 3)
    (0.0, 1.099)
    """
    b = probs / np.clip(probs.sum(-1, keepdims=True), 1e-12, None)
    lc = special.logit((grid.centres - grid.lower) / (grid.upper - grid.lower))
    mean = (b * lc).sum(-1)
    return mean, 0.5 * np.log(np.clip((b * (lc - mean[..., None]) ** 2).sum(-1), 0.04, None))


def binned_normal_start(grid: Grid, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(location, log scale) of a normal with the mean and sd of the bin centres under bin probabilities or counts
    ``probs`` (..., n_bins): a start value. The sd is floored at half a bin.

    >>> loc, log_s = binned_normal_start(Grid(0, 2, 2, open_ends=True), np.array([1.0, 1.0]))
    >>> round(float(loc), 6), round(float(np.exp(log_s)), 3)
    (1.0, 0.5)
    """
    b = probs / np.clip(probs.sum(-1, keepdims=True), 1e-12, None)
    mean = (b * grid.centres).sum(-1)
    var = (b * (grid.centres - mean[..., None]) ** 2).sum(-1)
    return mean, 0.5 * np.log(np.clip(var, (grid.width / 2) ** 2, None))


def binned_beta_start(grid: Grid, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit mean, log concentration) of the Beta with the method-of-moments fit to the bin centres under bin
    probabilities or counts ``probs`` (..., n_bins): a start value (mean kept in [0.02, 0.98], concentration in
    [0.2, 200])."""
    b = probs / np.clip(probs.sum(-1, keepdims=True), 1e-12, None)
    c = (grid.centres - grid.lower) / (grid.upper - grid.lower)
    mean = np.clip((b * c).sum(-1), 0.02, 0.98)
    var = np.clip((b * (c - mean[..., None]) ** 2).sum(-1), 1e-4, None)
    return special.logit(mean), np.log(np.clip(mean * (1 - mean) / var - 1, 0.2, 200))


__all__ = ["beta_bin_probs", "beta_bins_pt", "binned_beta_start", "binned_logit_normal_start", "binned_normal_start",
           "logit_edges", "logit_normal_bin_probs", "logit_normal_bins_pt", "logit_normal_moments", "normal_bin_probs",
           "normal_bins_pt"]
