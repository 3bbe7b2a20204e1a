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
- ``binned_normal``: a continuous measure's value is Normal(location, scale) over its open-ended grid.

Which family suits which kind of measurement (``simstats.logs.MEASURE_KINDS``): every kind can use
``categorical``, the only one for binary and categorical outcomes (one free probability per level); bounded
scores can also use ``binned_beta`` and ``binned_logit_normal``, continuous values ``binned_normal``.

Reusable personas: a fit's posterior fingerprints can become the prior of another fit (``transfer``, see
:func:`transfer_of` and :mod:`simstats.results.transfer`): ``categorical`` gets the Dirichlet moment-matched to the
posterior draws of its table, the parametric families a Normal per free parameter with the posterior mean and sd of
that parameter (their correlations are not kept); ``mode = "fixed"`` holds the table at its posterior mean.

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

from simstats.families.bins import (beta_bin_probs, beta_bins_pt, binned_beta_start, binned_logit_normal_start,
                                    binned_normal_start, logit_normal_bin_probs, logit_normal_bins_pt,
                                    normal_bin_probs, normal_bins_pt)
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
    """Coordinate labels of the categories of a measure: ``no_score`` then one ``"lo-hi"`` label per bin (or the
    levels of an outcome).

    >>> category_labels(Grid(0, 100, 4))
    ['no_score', '0-25', '25-50', '50-75', '75-100']
    >>> category_labels(Grid.of_levels(["no", "yes"]))
    ['no_score', 'no', 'yes']
    """
    if grid.is_levels:
        return [NO_SCORE, *grid.labels]
    e = grid.edges
    return [NO_SCORE] + [f"{e[i]:g}-{e[i + 1]:g}" for i in range(grid.n_bins)]


def anchor_profile(grid: Grid, mean: float | None, no_score: float, spread: float = ANCHOR_SPREAD,
                   levels: dict[str, float] | None = None) -> np.ndarray:
    """A persona's anchor for one measure as category probabilities: ``no_score`` first, then a broad Beta bump
    around ``mean`` (a score on its own scale, e.g. 0-100, kept at least 2% of the range from the ends) or, for an
    outcome with levels, the ``levels`` probabilities given (the rest shared equally by the other levels; a binary
    outcome's ``mean`` is the probability of its second level, "yes").

    >>> anchor_profile(Grid.of_levels(["C", "P", "I"]), None, 0.0, levels={"C": 0.8}).round(2).tolist()
    [0.0, 0.8, 0.1, 0.1]
    """
    if not 0.0 <= no_score < 1.0:
        raise ValueError(f"no_score anchor must be in [0, 1), got {no_score}")
    if grid.is_levels:
        probs = _level_probs(grid, mean, levels)
    else:
        if mean is None:
            raise ValueError("a score's anchor needs a mean")
        m = float(np.clip((mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98))
        probs = beta_bin_probs(grid, np.array(m), np.array(spread))
    return np.concatenate([[no_score], (1 - no_score) * probs])


def _level_probs(grid: Grid, mean: float | None, levels: dict[str, float] | None) -> np.ndarray:
    labels = list(grid.labels)
    if levels:
        unknown = sorted(set(levels) - set(labels))
        if unknown:
            raise ValueError(f"anchor levels {unknown} are not levels of the measure ({', '.join(labels)})")
        rest = [lv for lv in labels if lv not in levels]
        left = max(0.0, 1.0 - sum(levels.values()))
        probs = np.array([levels.get(lv, left / len(rest) if rest else 0.0) for lv in labels], float)
    elif mean is not None and len(labels) == 2:
        probs = np.array([1.0 - mean, mean], float)
    else:
        probs = np.full(len(labels), 1.0 / len(labels))
    probs = np.clip(probs, 0.02, None)            # a broad anchor: every level keeps some mass
    return probs / probs.sum()


@dataclass(frozen=True)
class Anchor:
    """Where a persona's fingerprint of one measure is expected: a score's location ``mean`` (a binary outcome's
    probability of "yes"), an outcome's ``levels`` probabilities, and the ``no_score`` rate."""

    mean: float | None = None
    no_score: float = 0.0
    levels: dict[str, float] | None = None


class Family(Protocol):
    """What a fingerprint family provides (see :data:`FAMILIES`)."""

    name: str

    #: the free parameters per persona (``fp_<measure>_<param>``); empty: the table itself is free
    params: tuple[str, ...]

    def build(self, measure: str, grid: Grid, anchors: list[Anchor], strength: float,
              persona_dim: str, category_dim: str, transfer: dict | None = None):  # -> TensorVariable (K, cats)
        """Create the family's random variables in the current PyMC model; return the probability table.
        ``transfer`` (see :func:`transfer_of`) replaces the anchored prior by an earlier fit's posterior."""

    def initial_values(self, measure: str, grid: Grid, probs: np.ndarray) -> dict[str, np.ndarray]:
        """Starting values of the family's free variables that reproduce ``probs`` (K, 1 + n_bins) closely."""

    def prior_table(self, grid: Grid, anchors: list[Anchor], strength: float) -> np.ndarray:
        """The prior mean table (K, 1 + n_bins): the start of EM and the truth of default simulations."""


def anchor_table(grid: Grid, anchors: list[Anchor]) -> np.ndarray:
    """(K, categories): every persona's anchor profile."""
    return np.stack([anchor_profile(grid, a.mean, a.no_score, levels=a.levels) for a in anchors])


def _numeric_only(family: str, measure: str, grid: Grid) -> None:
    """Parametric score distributions need a numeric grid."""
    from simstats.errors import SpecError

    if grid.is_levels:
        raise SpecError(f"measures.{measure}.likelihood = {family!r} is a distribution of scores, but {measure} "
                        f"has levels ({', '.join(grid.labels)}); use likelihood = \"categorical\"")


def _scaled_means(grid: Grid, anchors: list[Anchor]) -> np.ndarray:
    """The anchors' means on [0, 1] of the grid, kept 2% of the range from the ends."""
    return np.array([np.clip((a.mean - grid.lower) / (grid.upper - grid.lower), 0.02, 0.98) for a in anchors])


TRANSFER_MODES = ("prior", "fixed")
MIN_PROB = 1e-12                 # a fixed table's floor: every category keeps a finite log-probability


def dirichlet_concentration(draws: np.ndarray) -> np.ndarray:
    """(K,) the concentration of the Dirichlet whose moments match ``draws`` (S, K, categories) of probability
    vectors: per persona the median over categories (holding at least 0.1% of the mass) of ``m (1 - m) / v - 1``,
    ``m`` and ``v`` each category's mean and variance (for a Dirichlet every category gives the same value).

    >>> rng = np.random.default_rng(0)
    >>> d = rng.dirichlet([20.0, 50.0, 30.0], size=(20000, 1))
    >>> round(float(dirichlet_concentration(d)[0]))
    100
    """
    m, v = draws.mean(0), draws.var(0)
    ratio = np.where((m > 1e-3) & (v > 0), m * (1 - m) / np.maximum(v, 1e-300) - 1.0, np.nan)
    out = np.nanmedian(ratio, axis=-1)
    return np.where(np.isfinite(out), np.maximum(out, 1.0), 1.0)


def transfer_of(family: Family, measure: str, table_draws: np.ndarray, param_draws: dict[str, np.ndarray],
                mode: str = "prior") -> dict:
    """An earlier fit's posterior of one measure's fingerprints, as the ``transfer`` a family builds from.

    ``table_draws`` (S, K, categories): draws of the probability table; ``param_draws``: draws (S, K) of each of
    the family's free parameters (``fp_<measure>_<param>``). The result holds the table's posterior mean
    (``table``), its moment-matched Dirichlet concentration per persona (``concentration``) and each parameter's
    posterior mean and sd (``params``): plain lists, stored in the spec (``[fingerprints.transfer.<measure>]``).
    """
    if mode not in TRANSFER_MODES:
        raise ValueError(f"transfer mode must be one of {TRANSFER_MODES}, got {mode!r}")
    table = table_draws.mean(0)
    params = {}
    for p in family.params:
        d = param_draws[f"fp_{measure}_{p}"]
        params[p] = {"mean": d.mean(0).tolist(), "sd": np.maximum(d.std(0), 1e-3).tolist()}
    return {"mode": mode, "table": table.tolist(), "concentration": dirichlet_concentration(table_draws).tolist(),
            **({"params": params} if params else {})}


def transfer_table(transfer: dict) -> np.ndarray:
    """(K, categories) the transferred table's posterior mean, floored at :data:`MIN_PROB` and renormalised."""
    t = np.maximum(np.asarray(transfer["table"], float), MIN_PROB)
    return t / t.sum(-1, keepdims=True)


def transfer_alpha(transfer: dict) -> np.ndarray:
    """(K, categories) Dirichlet parameters of a transferred table (each at least 1: the source's own prior was
    ``1 + strength * anchor``, so no posterior parameter is below 1 but by moment-matching noise)."""
    conc = np.asarray(transfer["concentration"], float)[:, None]
    return np.maximum(conc * transfer_table(transfer), 1.0)


def fixed_table(name: str, transfer: dict, persona_dim: str, category_dim: str):
    """The fingerprint table ``name`` held at an earlier fit's posterior mean (``mode = "fixed"``): no free
    variable."""
    import pymc as pm
    import pytensor.tensor as pt

    return pm.Deterministic(name, pt.as_tensor_variable(transfer_table(transfer)),
                            dims=(persona_dim, category_dim))


def _normal(name: str, mu, sd, transfer: dict | None, param: str, persona_dim: str):
    """A family's free parameter per persona: Normal(mu, sd), or the transferred posterior's mean and sd."""
    import pymc as pm

    if transfer is not None:
        mu, sd = np.asarray(transfer["params"][param]["mean"]), np.asarray(transfer["params"][param]["sd"])
    return pm.Normal(name, mu, sd, dims=persona_dim)


class Categorical:
    """Free category probabilities per persona, Dirichlet(1 + strength * anchor)."""

    name = "categorical"
    params = ()

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim, transfer=None):
        import pymc as pm

        alpha = 1.0 + strength * anchor_table(grid, anchors) if transfer is None else transfer_alpha(transfer)
        return pm.Dirichlet(f"fp_{measure}", a=alpha, dims=(persona_dim, category_dim))

    def initial_values(self, measure, grid, probs):
        p = np.clip(probs, 1e-4, None)
        return {f"fp_{measure}": p / p.sum(-1, keepdims=True)}

    def prior_table(self, grid, anchors, strength):
        alpha = 1.0 + strength * anchor_table(grid, anchors)
        return alpha / alpha.sum(-1, keepdims=True)


class BinnedBeta:
    """Beta(mean, concentration) integrated over bins, plus a ``no_score`` probability, per persona.

    Parameters per persona: ``logit(mean) ~ Normal(logit(anchor mean), 1)``, ``log(concentration) ~ Normal(log 4,
    1.5)`` (a concentration under 2 gives the U shape of scores piled at both ends) and ``logit(no_score) ~
    Normal(logit(anchor no_score), 1.5)``. Uses PyTensor's ``betainc``, which has gradients in its shape arguments.
    """

    name = "binned_beta"
    params = ("mean_logit", "log_conc", "noscore_logit")

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim, transfer=None):
        import pymc as pm
        import pytensor.tensor as pt

        _numeric_only(self.name, measure, grid)
        m0 = _scaled_means(grid, anchors)
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        mu_l = _normal(f"fp_{measure}_mean_logit", special.logit(m0), 1.0, transfer, "mean_logit", persona_dim)
        kap_l = _normal(f"fp_{measure}_log_conc", np.log(4.0), 1.5, transfer, "log_conc", persona_dim)
        miss_l = _normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, transfer, "noscore_logit",
                         persona_dim)
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
        m0 = _scaled_means(grid, anchors)
        q0 = np.array([a.no_score for a in anchors])[:, None]
        return np.concatenate([q0, (1 - q0) * beta_bin_probs(grid, m0, np.full_like(m0, 4.0))], axis=1)


class BinnedLogitNormal:
    """logit(score) ~ Normal(location, scale) integrated over bins, plus a ``no_score`` probability, per persona.

    Parameters per persona: ``location ~ Normal(logit(anchor mean), 1)``, ``log(scale) ~ Normal(0, 1)`` (a scale
    above ~1.8 piles the scores at both ends) and ``logit(no_score) ~ Normal(logit(anchor no_score), 1.5)``.
    """

    name = "binned_logit_normal"
    params = ("location", "log_scale", "noscore_logit")

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim, transfer=None):
        import pymc as pm
        import pytensor.tensor as pt

        _numeric_only(self.name, measure, grid)
        m0 = _scaled_means(grid, anchors)
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        loc = _normal(f"fp_{measure}_location", special.logit(m0), 1.0, transfer, "location", persona_dim)
        log_s = _normal(f"fp_{measure}_log_scale", 0.0, 1.0, transfer, "log_scale", persona_dim)
        miss_l = _normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, transfer, "noscore_logit",
                         persona_dim)
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
        m0 = _scaled_means(grid, anchors)
        q0 = np.array([a.no_score for a in anchors])[:, None]
        bins = logit_normal_bin_probs(grid, special.logit(m0), np.ones_like(m0))
        return np.concatenate([q0, (1 - q0) * bins], axis=1)


class BinnedNormal:
    """A continuous measure (an open-ended grid): Normal(location, scale) integrated over bins, the outer bins
    reaching to -inf and +inf, plus a ``no_score`` probability, per persona.

    Parameters per persona: ``location ~ Normal(anchor mean, range / 4)``, ``log(scale) ~ Normal(log(range / 8),
    1)`` and ``logit(no_score) ~ Normal(logit(anchor no_score), 1.5)``, with ``range`` the grid's width.
    """

    name = "binned_normal"
    params = ("location", "log_scale", "noscore_logit")

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim, transfer=None):
        import pymc as pm
        import pytensor.tensor as pt

        _numeric_only(self.name, measure, grid)
        span = grid.upper - grid.lower
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        loc = _normal(f"fp_{measure}_location", np.array([a.mean for a in anchors], float), span / 4, transfer,
                      "location", persona_dim)
        log_s = _normal(f"fp_{measure}_log_scale", np.log(span / 8), 1.0, transfer, "log_scale", persona_dim)
        miss_l = _normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, transfer, "noscore_logit",
                         persona_dim)
        bins = normal_bins_pt(loc[:, None], pt.exp(log_s)[:, None], grid)
        q = pt.sigmoid(miss_l)[:, None]
        probs = pt.concatenate([q, (1 - q) * bins], axis=1)
        return pm.Deterministic(f"fp_{measure}", probs, dims=(persona_dim, category_dim))

    def initial_values(self, measure, grid, probs):
        q = np.clip(probs[:, 0], 1e-3, 0.999)
        loc, log_scale = binned_normal_start(grid, probs[:, 1:])
        return {f"fp_{measure}_location": loc, f"fp_{measure}_log_scale": log_scale,
                f"fp_{measure}_noscore_logit": special.logit(q)}

    def prior_table(self, grid, anchors, strength):
        span = grid.upper - grid.lower
        q0 = np.array([a.no_score for a in anchors])[:, None]
        bins = normal_bin_probs(grid, np.array([a.mean for a in anchors], float), np.full(len(anchors), span / 8))
        return np.concatenate([q0, (1 - q0) * bins], axis=1)


FAMILIES: dict[str, Family] = {f.name: f for f in (Categorical(), BinnedBeta(), BinnedLogitNormal(), BinnedNormal())}


__all__ = ["ANCHOR_SPREAD", "FAMILIES", "MIN_PROB", "NO_SCORE", "TRANSFER_MODES", "Anchor", "BinnedBeta",
           "BinnedLogitNormal", "BinnedNormal", "Categorical", "Family", "anchor_profile", "anchor_table",
           "category_index", "category_labels", "dirichlet_concentration", "fixed_table", "transfer_alpha",
           "transfer_of", "transfer_table"]
