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

    def build(self, measure: str, grid: Grid, anchors: list[Anchor], strength: float,
              persona_dim: str, category_dim: str):  # -> pytensor TensorVariable (K, 1 + n_bins)
        """Create the family's random variables in the current PyMC model; return the probability table."""

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


class Categorical:
    """Free category probabilities per persona, Dirichlet(1 + strength * anchor)."""

    name = "categorical"

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm

        alpha = 1.0 + strength * anchor_table(grid, anchors)
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

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm
        import pytensor.tensor as pt

        _numeric_only(self.name, measure, grid)
        m0 = _scaled_means(grid, anchors)
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
        m0 = _scaled_means(grid, anchors)
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

        _numeric_only(self.name, measure, grid)
        m0 = _scaled_means(grid, anchors)
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

    def build(self, measure, grid, anchors, strength, persona_dim, category_dim):
        import pymc as pm
        import pytensor.tensor as pt

        _numeric_only(self.name, measure, grid)
        span = grid.upper - grid.lower
        q0 = np.array([np.clip(a.no_score, 1e-3, 0.999) for a in anchors])
        loc = pm.Normal(f"fp_{measure}_location", np.array([a.mean for a in anchors], float), span / 4,
                        dims=persona_dim)
        log_s = pm.Normal(f"fp_{measure}_log_scale", np.log(span / 8), 1.0, dims=persona_dim)
        miss_l = pm.Normal(f"fp_{measure}_noscore_logit", special.logit(q0), 1.5, dims=persona_dim)
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


__all__ = ["ANCHOR_SPREAD", "FAMILIES", "NO_SCORE", "Anchor", "BinnedBeta", "BinnedLogitNormal", "BinnedNormal",
           "Categorical",
           "Family", "anchor_profile", "anchor_table", "category_index", "category_labels"]
