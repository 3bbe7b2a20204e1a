"""The model-kind interface: what every kind of model (the persona mixture, degradation, the classic rate model)
provides, and the pieces they share.

A kind owns its PyMC graph from a spec and the design (:meth:`ModelKind.build`), its start values
(:meth:`ModelKind.start`), its per-pattern log-likelihood over posterior draws (for LOO), its forward model
(:meth:`ModelKind.emissions`, which the simulator, the behaviour rates and the predictive checks share), its prior
draws and truth layout for simulation, and its result tables. Nothing outside ``simstats.kinds`` branches on the
kind: callers ask :func:`simstats.kinds.kind_of` for the kind of a spec and call its methods. A method a kind does
not support raises :class:`~simstats.errors.SimstatsError` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.graph.design import ModelData, model_data
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec
from simstats.theory import formalism

PROB = 0.9  # the credible-interval mass reported everywhere (equal-tailed)
#: how a start value is jittered across chains: additively, on the log or logit scale, never (labels and
#: constraints), or only by samplers that jitter in the unconstrained space (a simplex)
JITTER_RULES = ("add", "log", "logit", "none", "unconstrained")


@dataclass(frozen=True)
class Start:
    """Where the chains start: ``values`` (constrained space) of every free variable, the jitter rule of each
    (:data:`JITTER_RULES`, ``add`` when absent), the kind's parametrisation choice (``centring``: the
    condition-level elements that are centred, or ``None``) and the pre-fit it came from (``prefit``)."""

    values: dict[str, np.ndarray]
    jitter: dict[str, str] = field(default_factory=dict)
    centring: np.ndarray | None = None
    prefit: Any = None

    def fixed(self) -> set[str]:
        """Variables no sampler jitters (fingerprints: so that every chain starts in the spec's labelling)."""
        return {k for k, r in self.jitter.items() if r == "none"}

    def jittered(self, chains: int, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
        """One start per chain, each variable jittered by its rule (uniform +-0.5 on its scale)."""
        out = []
        for _ in range(chains):
            d = {}
            for k, v in self.values.items():
                v = np.asarray(v, float)
                rule = self.jitter.get(k, "add")
                if rule in ("none", "unconstrained"):
                    d[k] = v.copy()
                elif rule == "log":
                    d[k] = v * np.exp(rng.uniform(-0.5, 0.5, v.shape))
                elif rule == "logit":
                    lo = np.log(v) - np.log1p(-v) + rng.uniform(-0.5, 0.5, v.shape)
                    d[k] = 1.0 / (1.0 + np.exp(-lo))
                else:
                    d[k] = v + rng.uniform(-0.5, 0.5, v.shape)
            out.append(d)
        return out


@dataclass(frozen=True)
class Emissions:
    """The forward model of a fit on its cells, for every draw: the component weights of each cell and, per measure
    (and ``verdict``), the components' category probabilities.

    ``log_weights`` (..., cells, K): log P(component | cell) (personas; one component for a kind without);
    ``tables[m] = (table, unit)``: ``table`` (..., U, K, categories) and ``unit`` (cells,) the row of ``table`` each
    cell uses (shared fingerprints: U = 1; per condition: U = C; per cell: U = cells)."""

    log_weights: np.ndarray
    tables: dict[str, tuple[np.ndarray, np.ndarray]]

    def cell_table(self, measure: str, cells: np.ndarray | None = None) -> np.ndarray:
        """(..., cells, K, categories): each cell's component tables of ``measure``."""
        table, unit = self.tables[measure]
        return table[..., unit if cells is None else unit[cells], :, :]


def _per_chain(em: Emissions, fn):
    """``fn`` applied chain by chain (a (chain, draw, patterns, K) temporary of a real-log fit is GBs)."""
    lw = em.log_weights
    if lw.ndim < 4:
        return fn(em)
    parts = []
    for c in range(lw.shape[0]):
        tables = {m: (t[c] if t.ndim == lw.ndim + 1 else t, u) for m, (t, u) in em.tables.items()}
        parts.append(fn(Emissions(lw[c], tables)))
    return np.stack(parts)


def _log_emission(em: Emissions, data: ModelData) -> np.ndarray:
    """(..., pattern, K): log prod_m P_k(y_m) of every pattern under every component."""
    cell = data.pattern_cell
    log_f = 0.0
    for m, cat in data.category_cols().items():
        table, unit = em.tables[m]
        log_f = log_f + np.log(np.swapaxes(table, -1, -2)[..., unit[cell], cat, :])
    return log_f


def emission_log_likelihood(em: Emissions, data: ModelData) -> np.ndarray:
    """Log-likelihood of ONE answer of each pattern for every draw: (..., pattern), with the component
    marginalised out (:func:`formalism.marginal_log_likelihood`)."""
    return _per_chain(em, lambda e: formalism.marginal_log_likelihood(e.log_weights[..., data.pattern_cell, :],
                                                                      _log_emission(e, data)))


def mean_responsibilities(em: Emissions, data: ModelData) -> np.ndarray:
    """(pattern, K): each pattern's posterior over components (:func:`formalism.responsibilities`), draw by draw,
    then averaged over the draws."""
    def one(e: Emissions) -> np.ndarray:
        r = formalism.responsibilities(e.log_weights[..., data.pattern_cell, :], _log_emission(e, data))
        return r.reshape(-1, *r.shape[-2:]).mean(0)

    out = _per_chain(em, one)
    return out.mean(0) if em.log_weights.ndim >= 4 else out


def behaviour_rate_draws(em: Emissions, data: ModelData, behaviour, mix: np.ndarray | None = None) -> np.ndarray:
    """(..., condition): the predicted rate of a thresholded behaviour over each condition's own prompt mix,
    measures independent given the component; ``mix`` (rows, cells) other prompt mixes instead (e.g.
    :meth:`~simstats.graph.design.ModelData.feature_mix`), giving (..., rows)."""
    masks = behaviour.category_masks(data.patterns.grids)
    probs = []
    for m, mask in masks.items():
        table, unit = em.tables[m]
        probs.append(table[..., mask].sum(-1)[..., unit, :])              # (..., cells, K)
    per_cell = formalism.behaviour_rate(np.exp(em.log_weights), *probs)   # (..., cells)
    return np.einsum("cn,...n->...c", data.condition_mix() if mix is None else mix, per_cell)


def empirical_behaviour_rate(data: ModelData, behaviour) -> pd.Series:
    """The behaviour's rate in the observed (binned) answers, per condition."""
    t = data.patterns.table
    hit = t["count"] * behaviour.pattern_hits(t, data.patterns.grids)
    return (hit.groupby(t["condition"]).sum() / t.groupby("condition")["count"].sum()).reindex(data.conditions)


def check_prob(prob: object) -> float:
    """An interval probability: a number strictly between 0 and 1 (else one-line :class:`SimstatsError`)."""
    if isinstance(prob, bool) or not isinstance(prob, (int, float, np.floating)) or not 0 < prob < 1:
        raise SimstatsError(f"prob must be a number between 0 and 1 (e.g. 0.9), got {prob!r}")
    return float(prob)


def interval(draws: np.ndarray, prob: float = PROB) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and equal-tailed interval over the leading (chain, draw) axes."""
    prob = check_prob(prob)
    flat = draws.reshape(-1, *draws.shape[2:])
    lo, hi = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return flat.mean(0), lo, hi


def frame(index: dict[str, list], mean, low, high) -> pd.DataFrame:
    """A (mean, low, high) table over the product of ``index``'s labels."""
    idx = pd.MultiIndex.from_product(list(index.values()), names=list(index))
    return pd.DataFrame({"mean": np.ravel(mean), "low": np.ravel(low), "high": np.ravel(high)}, index=idx)


def empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=["mean", "low", "high"])


class ModelKind:
    """The interface of a model kind, with the answers of a kind that supports nothing; see the module docstring.

    ``result`` arguments are :class:`~simstats.results.FitResult` s (``result.posterior``, ``result.spec``,
    ``result.data``)."""

    name = ""
    has_personas = False
    #: whether ``[hierarchy] parametrization`` changes the kind's model (so a funnel can be answered by the
    #: divergence ladder's funnel rung, which fits the adaptive form)
    reparametrises = False
    #: what the kind's report calls a fit without personas (used in messages)
    summary_of = "a model"

    # ------------------------------------------------------------------ model
    def design(self, spec: ModelSpec, patterns: Patterns, *, observed: bool = True) -> ModelData:
        """The design of ``spec`` on ``patterns`` (``observed=False``: a template whose patterns are placeholders)."""
        return model_data(spec, patterns, observed=observed)

    def start(self, spec: ModelSpec, data: ModelData, *, em_iter: int = 500,
              centring: np.ndarray | None = None) -> Start:
        """Start values, jitter rules and the kind's parametrisation choice; ``centring`` imposes a parametrisation
        chosen before (e.g. that of a compiled model refitted to another log)."""
        raise NotImplementedError

    def build(self, spec: ModelSpec, data: ModelData, *, centring: np.ndarray | None = None, rows: bool = False):
        """The PyMC model; ``centring`` is the parametrisation chosen by :meth:`start`; ``rows=True`` builds the
        row-level reference likelihood (one term per answer) where the kind has one."""
        raise NotImplementedError

    def emissions(self, posterior, spec: ModelSpec, data: ModelData) -> Emissions:
        raise SimstatsError(f"{spec.name} is a {self.name} model: it does not predict the measures of each answer")

    def pattern_log_likelihood(self, posterior, spec: ModelSpec, data: ModelData) -> np.ndarray:
        """Log-likelihood of ONE answer of each pattern for every draw: (chain, draw, pattern); weight by
        ``data.count`` for totals."""
        return emission_log_likelihood(self.emissions(posterior, spec, data), data)

    def checks(self, posterior, spec: ModelSpec, data: ModelData) -> list[str]:
        """Messages of kind-specific checks of a fit (each makes its status at least ``warning``)."""
        return []

    def sampled_variables(self, names: list[str]) -> list[str] | None:
        """Of the posterior variables ``names``, those whose R-hat and ESS gate the fit (``None``: all of them)."""
        return None

    # ------------------------------------------------------------------ simulation
    def prior_draw(self, spec: ModelSpec, data: ModelData, seed: int, *, centring=None) -> dict[str, np.ndarray]:
        """One draw of every free variable and deterministic from the PyMC model's own prior (the likelihood is a
        ``Potential`` and does not enter)."""
        import pymc as pm

        from simstats.graph.kernel import ieee_numba

        ieee_numba()
        model = self.build(spec, data, centring=centring)
        names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
        values = pm.draw([model[n] for n in names], random_seed=seed)
        return {n: np.asarray(v) for n, v in zip(names, values)}

    def truth(self, draw: dict[str, np.ndarray], spec: ModelSpec, data: ModelData) -> dict:
        """The JSON layout of a simulation's true parameters from one draw."""
        raise SimstatsError(f"{self.name} models cannot be simulated")

    def truth_arrays(self, truth: dict, spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
        """The arrays of a truth's JSON layout (one draw, no leading axes), keyed as the posterior's variables."""
        raise SimstatsError(f"{self.name} models cannot be simulated")

    # ------------------------------------------------------------------ results
    def _no(self, result, what: str, instead: str = ""):
        tail = f"; see {instead}" if instead else ""
        raise SimstatsError(f"{result.spec.name} is a {self.name} model: it has no personas, so no {what}{tail}")

    def condition_shares(self, posterior, data: ModelData) -> np.ndarray:
        """(..., condition, K): each condition's persona shares over its own prompt mix, from parameter arrays."""
        raise SimstatsError(f"a {self.name} model has no personas, so no persona shares")

    def share_draws(self, result) -> np.ndarray:
        self._no(result, "persona shares", "condition_distributions()")

    def shares(self, result, prob: float) -> pd.DataFrame:
        self._no(result, "persona shares", "condition_distributions()")

    def feature_share_table(self, result, feature: str, prob: float) -> pd.DataFrame:
        self._no(result, "persona shares", "condition_distributions()")

    def fingerprint_draws(self, result, measure: str) -> np.ndarray:
        self._no(result, "fingerprints", "condition_distributions()")

    def fingerprint_table(self, result, prob: float) -> pd.DataFrame:
        self._no(result, "fingerprints", "condition_distributions()")

    def mean_responsibilities(self, result) -> np.ndarray:
        self._no(result, "per-answer persona posteriors")

    def behaviour_rate_draws(self, result, behaviour, mix: np.ndarray | None = None) -> np.ndarray:
        """(chain, draw, condition): the posterior-predictive rate of a thresholded behaviour per condition (per
        row of ``mix``, prompt mixes over cells, when given)."""
        return behaviour_rate_draws(self.emissions(result.posterior, result.spec, result.data), result.data,
                                    behaviour, mix)

    def question_shifts(self, result, prob: float) -> pd.DataFrame:
        return empty_table()

    def feature_effects(self, result, prob: float) -> pd.DataFrame:
        return empty_table()

    def interaction_effects(self, result, prob: float) -> pd.DataFrame:
        return empty_table()

    def condition_effects(self, result, prob: float) -> pd.DataFrame:
        return empty_table()

    def condition_distributions(self, result, prob: float) -> pd.DataFrame:
        raise SimstatsError(f"{result.spec.name} is a {self.name} model: see its shares() and fingerprints()"
                            if self.has_personas else f"{result.spec.name} is a {self.name} model: no score "
                            "distributions per condition")

    def summary(self, result, prob: float) -> dict[str, Any]:
        """The JSON report of a fit (:meth:`~simstats.results.FitResult.summary_dict`)."""
        raise NotImplementedError


__all__ = [
    "JITTER_RULES",
    "PROB",
    "Emissions",
    "ModelKind",
    "Start",
    "behaviour_rate_draws",
    "emission_log_likelihood",
    "empirical_behaviour_rate",
    "empty_table",
    "frame",
    "interval",
    "mean_responsibilities",
]
