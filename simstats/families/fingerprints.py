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

from simstats.families.bins import (
    beta_bin_probs,
    beta_bins_pt,
    binned_beta_start,
    binned_logit_normal_start,
    logit_normal_bin_probs,
    logit_normal_bins_pt,
)
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


def anchor_table(grid: Grid, anchors: list[Anchor]) -> np.ndarray:
    return np.stack([anchor_profile(grid, a.mean, a.no_score) for a in anchors])


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


__all__ = ["ANCHOR_SPREAD", "FAMILIES", "NO_SCORE", "Anchor", "BinnedBeta", "BinnedLogitNormal", "Categorical",
           "Family", "anchor_profile", "anchor_table", "category_index", "category_labels"]
