"""Persona fingerprints: the emission distribution of one judge score (or verdict) under each persona.

A fingerprint of measure ``m`` is a table ``P_k(category)`` of shape ``(K, 1 + n_bins)`` over the *categories* of a
score: category 0 is ``no_score`` (the judge gave a verdict such as CODE / REFUSAL, or could not score), category
``b + 1`` is bin ``b`` of the score's grid. A family builds that table inside a PyMC model from an anchored prior, and
gives the NumPy pieces needed to start, simulate and check it. Families are looked up by name in :data:`FAMILIES`.

- ``categorical``: a free probability vector per persona with a Dirichlet prior centred on the persona's anchor
  (pseudo-counts ``1 + strength * anchor``). Flexible: it fits the pile-ups at 0 and 100 and any shape between.
- ``binned_beta``: a Beta(mean, concentration) density integrated over each bin (differences of the regularised
  incomplete beta function) plus a ``no_score`` probability; three parameters per persona.
- ``binned_logit_normal``: the score's logit is Normal(location, scale), integrated over each bin (differences of
  normal CDFs) plus a ``no_score`` probability; three parameters per persona. Same role as ``binned_beta`` (one
  bounded distribution, U-shaped when the scale is large) at a tenth of the gradient cost: ``betainc``'s
  derivatives in its shape arguments are series expansions, the normal CDF's are one exponential.

>>> import numpy as np
>>> from simstats.logs.grid import Grid
>>> prof = anchor_profile(Grid(0, 100, 10), mean=90, no_score=0.1)
>>> prof.shape, round(float(prof.sum()), 6), round(float(prof[0]), 3)
((11,), 1.0, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import special

from simstats.logs.grid import MISSING_BIN, Grid

NO_SCORE = "no_score"
ANCHOR_SPREAD = 8.0  # concentration of the Beta that shapes an anchor profile (a broad bump around the mean)


def category_index(bins: np.ndarray) -> np.ndarray:
    """Category of each bin index: ``MISSING_BIN`` (-1) -> 0 (no_score), bin b -> b + 1.

    >>> category_index(np.array([-1, 0, 9])).tolist()
    [0, 1, 10]
    """
    bins = np.asarray(bins)
    return np.where(bins == MISSING_BIN, 0, bins + 1).astype(np.int64)


def category_labels(grid: Grid) -> list[str]:
    """Coordinate labels of the categories of a score: ``no_score`` then one ``"lo-hi"`` label per bin.

    >>> category_labels(Grid(0, 100, 4))
    ['no_score', '0-25', '25-50', '50-75', '75-100']
    """
    e = grid.edges
    return [NO_SCORE] + [f"{e[i]:g}-{e[i + 1]:g}" for i in range(grid.n_bins)]


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
    z = (logit_edges(grid) - np.asarray(location, float)[..., None]) / np.asarray(scale, float)[..., None]
    pad = np.zeros(z.shape[:-1] + (1,))
    lower = np.concatenate([pad, special.ndtr(z), pad + 1.0], axis=-1)         # P(logit y < edge)
    upper = np.concatenate([pad + 1.0, special.ndtr(-z), pad], axis=-1)        # P(logit y > edge)
    above = np.concatenate([pad.astype(bool), z > 0], axis=-1)      # each bin: its lower edge above the location
    return np.where(above, upper[..., :-1] - upper[..., 1:], lower[..., 1:] - lower[..., :-1])


def logit_normal_bins_pt(location, scale, grid: Grid):
    """PyTensor version of :func:`logit_normal_bin_probs` for column vectors (n, 1): (n, n_bins), floored at
    1e-300. The padded outer edges are constants, so no infinity meets a gradient."""
    import pytensor.tensor as pt

    z = (pt.as_tensor(logit_edges(grid))[None, :] - location) / scale                   # (n, B - 1)
    n = z.shape[0]
    zeros, ones = pt.zeros((n, 1)), pt.ones((n, 1))
    lower = pt.concatenate([zeros, 0.5 * pt.erfc(-z / np.sqrt(2.0)), ones], axis=1)
    upper = pt.concatenate([ones, 0.5 * pt.erfc(z / np.sqrt(2.0)), zeros], axis=1)
    above = pt.concatenate([pt.zeros((n, 1), dtype="bool"), pt.gt(z, 0)], axis=1)
    mass = pt.where(above, upper[:, :-1] - upper[:, 1:], lower[:, 1:] - lower[:, :-1])
    return pt.clip(mass, 1e-300, 1.0)


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


def binned_beta_start(grid: Grid, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit mean, log concentration) of the Beta with the method-of-moments fit to the bin centres under bin
    probabilities or counts ``probs`` (..., n_bins): a start value (mean kept in [0.02, 0.98], concentration in
    [0.2, 200])."""
    b = probs / np.clip(probs.sum(-1, keepdims=True), 1e-12, None)
    c = (grid.centres - grid.lower) / (grid.upper - grid.lower)
    mean = np.clip((b * c).sum(-1), 0.02, 0.98)
    var = np.clip((b * (c - mean[..., None]) ** 2).sum(-1), 1e-4, None)
    return special.logit(mean), np.log(np.clip(mean * (1 - mean) / var - 1, 0.2, 200))


def anchor_profile(grid: Grid, mean: float, no_score: float, spread: float = ANCHOR_SPREAD) -> np.ndarray:
    """A persona's anchor for one score as category probabilities: ``no_score`` first, then a broad Beta bump.

    ``mean`` is on the score's own scale (e.g. 0-100); it is kept at least 2% of the range away from the ends.
    """
    if not 0.0 <= no_score < 1.0:
        raise ValueError(f"no_score anchor must be in [0, 1), got {no_score}")
    m = (mean - grid.lower) / (grid.upper - grid.lower)
    m = float(np.clip(m, 0.02, 0.98))
    bins = beta_bin_probs(grid, np.array(m), np.array(spread))
    return np.concatenate([[no_score], (1 - no_score) * bins])


@dataclass(frozen=True)
class Anchor:
    """Where a persona's fingerprint of one score is expected: location ``mean`` and ``no_score`` rate."""

    mean: float
    no_score: float = 0.0


class Family(Protocol):
    """What a fingerprint family provides (see :data:`FAMILIES`)."""

    name: str

    def build(self, measure: str, grid: Grid, anchors: list[Anchor], strength: float,
              persona_dim: str, category_dim: str):  # -> pytensor TensorVariable (K, 1 + n_bins)
        """Create the family's random variables in the current PyMC model; return the probability table."""

    def initial_values(self, measure: str, grid: Grid, probs: np.ndarray) -> dict[str, np.ndarray]:
        """Starting values of the family's free variables that reproduce ``probs`` (K, 1 + n_bins) closely."""

    def prior_table(self, grid: Grid, anchors: list[Anchor], strength: float) -> np.ndarray:
        """The prior mean table (K, 1 + n_bins): the start of EM and the truth of default simulations."""


def _anchor_table(grid: Grid, anchors: list[Anchor]) -> np.ndarray:
    return np.stack([anchor_profile(grid, a.mean, a.no_score) for a in anchors])


class Categorical:
    """Free category probabilities per persona, Dirichlet(1 + strength * anchor)."""

    name = "categorical"

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm

        alpha = 1.0 + strength * _anchor_table(grid, anchors)
        return pm.Dirichlet(f"fp_{measure}", a=alpha, dims=(persona_dim, category_dim))

    def initial_values(self, measure, grid, probs):
        p = np.clip(probs, 1e-4, None)
        return {f"fp_{measure}": p / p.sum(-1, keepdims=True)}

    def prior_table(self, grid, anchors, strength):
        alpha = 1.0 + strength * _anchor_table(grid, anchors)
        return alpha / alpha.sum(-1, keepdims=True)


class BinnedBeta:
    """Beta(mean, concentration) integrated over bins, plus a ``no_score`` probability, per persona.

    Parameters per persona: ``logit(mean) ~ Normal(logit(anchor mean), 1)``, ``log(concentration) ~ Normal(log 4,
    1.5)`` (a concentration under 2 gives the U shape of scores piled at both ends) and ``logit(no_score) ~
    Normal(logit(anchor no_score), 1.5)``. Uses PyTensor's ``betainc``, which has gradients in its shape arguments.
    """

    name = "binned_beta"

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm
        import pytensor.tensor as pt

        m0 = np.array([np.clip((a.mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98) for a in anchors])
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        mu_l = pm.Normal(f"fp_{measure}_mean_logit", special.logit(m0), 1.0, dims=persona_dim)
        kap_l = pm.Normal(f"fp_{measure}_log_conc", np.log(4.0), 1.5, dims=persona_dim)
        miss_l = pm.Normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, dims=persona_dim)
        bins = beta_bins_pt(pt.sigmoid(mu_l)[:, None], pt.exp(kap_l)[:, None], grid)
        q = pt.sigmoid(miss_l)[:, None]
        probs = pt.concatenate([q, (1 - q) * bins], axis=1)
        return pm.Deterministic(f"fp_{measure}", probs, dims=(persona_dim, category_dim))

    def initial_values(self, measure, grid, probs):
        q = np.clip(probs[:, 0], 1e-3, 0.999)
        mean_logit, log_conc = binned_beta_start(grid, probs[:, 1:])
        return {f"fp_{measure}_mean_logit": mean_logit, f"fp_{measure}_log_conc": log_conc,
                f"fp_{measure}_noscore_logit": special.logit(q)}

    def prior_table(self, grid, anchors, strength):
        m0 = np.array([np.clip((a.mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98) for a in anchors])
        q0 = np.array([a.no_score for a in anchors])[:, None]
        return np.concatenate([q0, (1 - q0) * beta_bin_probs(grid, m0, np.full_like(m0, 4.0))], axis=1)


class BinnedLogitNormal:
    """logit(score) ~ Normal(location, scale) integrated over bins, plus a ``no_score`` probability, per persona.

    Parameters per persona: ``location ~ Normal(logit(anchor mean), 1)``, ``log(scale) ~ Normal(0, 1)`` (a scale
    above ~1.8 piles the scores at both ends) and ``logit(no_score) ~ Normal(logit(anchor no_score), 1.5)``.
    """

    name = "binned_logit_normal"

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm
        import pytensor.tensor as pt

        m0 = np.array([np.clip((a.mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98) for a in anchors])
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        loc = pm.Normal(f"fp_{measure}_location", special.logit(m0), 1.0, dims=persona_dim)
        log_s = pm.Normal(f"fp_{measure}_log_scale", 0.0, 1.0, dims=persona_dim)
        miss_l = pm.Normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, dims=persona_dim)
        bins = logit_normal_bins_pt(loc[:, None], pt.exp(log_s)[:, None], grid)
        q = pt.sigmoid(miss_l)[:, None]
        probs = pt.concatenate([q, (1 - q) * bins], axis=1)
        return pm.Deterministic(f"fp_{measure}", probs, dims=(persona_dim, category_dim))

    def initial_values(self, measure, grid, probs):
        q = np.clip(probs[:, 0], 1e-3, 0.999)
        loc, log_scale = binned_logit_normal_start(grid, probs[:, 1:])
        return {f"fp_{measure}_location": loc, f"fp_{measure}_log_scale": log_scale,
                f"fp_{measure}_noscore_logit": special.logit(q)}

    def prior_table(self, grid, anchors, strength):
        m0 = np.array([np.clip((a.mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98) for a in anchors])
        q0 = np.array([a.no_score for a in anchors])[:, None]
        bins = logit_normal_bin_probs(grid, special.logit(m0), np.ones_like(m0))
        return np.concatenate([q0, (1 - q0) * bins], axis=1)


FAMILIES: dict[str, Family] = {f.name: f for f in (Categorical(), BinnedBeta(), BinnedLogitNormal())}


# ---------------------------------------------------------------------------------------- fused mixture kernel
def _mixture_kernel(logw, logf, cell, emis, count):  # pragma: no cover - compiled by numba
    """sum_p n_p log sum_k exp(logw[cell_p, k] + logf[emis_p, k]) and its gradients in logw and logf.

    Works in probability space, shifted per row so nothing overflows: ``w = exp(logw - max_k logw)`` per cell and
    ``f = exp(logf - max_k logf)`` per emission pattern, then ``log s_p = log sum_k w f + shifts``. That needs 4*C +
    4*E exponentials instead of 4*P (2-4x faster than log-sum-exp per pattern). A pattern whose shifted sum
    underflows (personas that disagree by > 640 nats) falls back to log-sum-exp.
    """
    C, K = logw.shape
    both = np.concatenate((logw, logf))         # rows of cells then emission patterns, shifted the same way
    ex = np.empty_like(both)
    shift = np.empty(both.shape[0])
    for r in range(both.shape[0]):
        m = both[r, 0]
        for k in range(1, K):
            m = max(m, both[r, k])
        shift[r] = m
        for k in range(K):
            ex[r, k] = np.exp(both[r, k] - m)
    w, f, sw, sf = ex[:C], ex[C:], shift[:C], shift[C:]
    gw = np.zeros_like(logw)
    gf = np.zeros_like(logf)
    ll = 0.0
    for p in range(cell.shape[0]):
        c = cell[p]
        e = emis[p]
        n = count[p]
        s = 0.0
        for k in range(K):
            s += w[c, k] * f[e, k]
        if s > 1e-280:
            ll += n * (np.log(s) + sw[c] + sf[e])
            inv = n / s
            for k in range(K):
                r = w[c, k] * f[e, k] * inv
                gw[c, k] += r
                gf[e, k] += r
        else:  # personas that disagree by hundreds of nats: the shifted sum underflowed
            mx = -np.inf
            for k in range(K):
                mx = max(mx, logw[c, k] + logf[e, k])
            s = 0.0
            for k in range(K):
                s += np.exp(logw[c, k] + logf[e, k] - mx)
            ll += n * (mx + np.log(s))
            for k in range(K):
                r = n * np.exp(logw[c, k] + logf[e, k] - mx) / s
                gw[c, k] += r
                gf[e, k] += r
    return np.asarray(ll), gw, gf


_KERNEL = None


def mixture_kernel():
    """The numba-compiled :func:`_mixture_kernel` (compiled on first use, cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True, fastmath=False)(_mixture_kernel)
    return _KERNEL


def _make_op():
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_undefined
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class PatternMixtureLogLik(Op):
        """log-likelihood of pattern counts under a K-persona mixture, with its gradient fused in one pass.

        Inputs: ``logw`` (cells, K) log persona weights per cell, ``logf`` (E, K) log emission probability of each
        unique emission pattern, ``cell`` (P,) and ``emis`` (P,) int64 indices of each pattern, ``count`` (P,)
        float64. Outputs: the scalar total and its gradients with respect to ``logw`` and ``logf`` (the latter two
        exist so that ``logp`` and ``dlogp`` share one pass; only the first output is meant for users).
        """

        __props__ = ()

        def make_node(self, logw, logf, cell, emis, count):
            ins = [pt.as_tensor(logw, dtype="float64"), pt.as_tensor(logf, dtype="float64"),
                   pt.as_tensor(cell, dtype="int64"), pt.as_tensor(emis, dtype="int64"),
                   pt.as_tensor(count, dtype="float64")]
            return Apply(self, ins, [pt.dscalar(), ins[0].type(), ins[1].type()])

        def perform(self, node, inputs, outputs):
            ll, gw, gf = mixture_kernel()(*inputs)
            outputs[0][0] = np.asarray(ll, dtype=np.float64)
            outputs[1][0] = gw
            outputs[2][0] = gf

        def pullback(self, inputs, outputs, output_grads):
            g = output_grads[0]
            for og in output_grads[1:]:
                if not isinstance(og.type, DisconnectedType):
                    raise NotImplementedError("second derivatives of the pattern mixture are not implemented")
            dis = DisconnectedType()
            return [g * outputs[1], g * outputs[2], dis(), dis(),
                    grad_undefined(self, 4, inputs[4], "counts are data")]

        def connection_pattern(self, node):
            return [[True, True, True], [True, True, True], [False, False, False], [False, False, False],
                    [True, True, True]]

    op = PatternMixtureLogLik()

    try:  # numba backend (nutpie's default)
        from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

        @register_funcify_default_op_cache_key(PatternMixtureLogLik)
        def _numba_pml(op, node=None, **kwargs):
            from pytensor.link.numba.dispatch import basic as nb

            return nb.numba_njit(_mixture_kernel)
    except ImportError:  # pragma: no cover
        pass

    try:  # JAX backend (nutpie backend="jax", NumPyro, BlackJAX)
        from pytensor.link.jax.dispatch import jax_funcify

        @jax_funcify.register(PatternMixtureLogLik)
        def _jax_pml(op, **kwargs):
            import jax
            import jax.numpy as jnp

            def pml(logw, logf, cell, emis, count):
                a = logw[cell] + logf[emis]
                lse = jax.nn.logsumexp(a, axis=1)
                r = jnp.exp(a - lse[:, None]) * count[:, None]
                gw = jnp.zeros_like(logw).at[cell].add(r)
                gf = jnp.zeros_like(logf).at[emis].add(r)
                return jnp.sum(count * lse), gw, gf

            return pml
    except ImportError:  # pragma: no cover
        pass
    return op


_OP = None


def pattern_mixture_loglik(logw, logf, cell, emis, count):
    """Graph of sum_p count_p log sum_k exp(logw[cell_p, k] + logf[emis_p, k]) (one fused numba/JAX/C kernel).

    >>> import numpy as np
    >>> v = pattern_mixture_loglik(np.log([[0.5, 0.5]]), np.log([[0.2, 0.6]]), [0], [0], [2.0]).eval()
    >>> bool(round(float(v), 6) == round(2 * np.log(0.4), 6))
    True
    """
    global _OP
    if _OP is None:
        _OP = _make_op()
    return _OP(logw, logf, cell, emis, count)[0]


__all__ = [
    "ANCHOR_SPREAD",
    "FAMILIES",
    "NO_SCORE",
    "Anchor",
    "BinnedBeta",
    "BinnedLogitNormal",
    "Categorical",
    "Family",
    "anchor_profile",
    "beta_bin_probs",
    "beta_bins_pt",
    "binned_beta_start",
    "binned_logit_normal_start",
    "category_index",
    "category_labels",
    "logit_edges",
    "logit_normal_bin_probs",
    "logit_normal_bins_pt",
    "logit_normal_moments",
    "mixture_kernel",
    "pattern_mixture_loglik",
]
