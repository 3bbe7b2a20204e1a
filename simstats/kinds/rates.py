"""The classic rate model (``[model] kind = "rates"``): a hierarchical binomial on the counts of answers that meet
one thresholded behaviour (for emergent misalignment ``aligned < 30 and coherent > 50``), so that the familiar
number can sit beside the persona analysis:

.. math::

    k_c \\sim \\operatorname{Binomial}(n_c, \\operatorname{logit}^{-1}\\theta_c), \\qquad
    \\theta_c = \\mu + \\sum_{\\ell} \\sigma_\\ell\\, z_{\\ell, g_\\ell(c)} + x_c \\cdot \\beta,

with the same condition hierarchy as every other kind (:mod:`simstats.graph.hierarchy`; non-centred, a group with a
single child handing its variance down, a level the fixed part already spans left out): ``mu ~ Normal(*logodds)``,
each level's ``sd ~ HalfNormal(hierarchy.sigma)``. ``by_prompt`` adds crossed prompt effects and a (condition,
prompt) cell effect, :math:`k_{cp} \\sim \\operatorname{Binomial}(n_{cp}, \\operatorname{logit}^{-1}(\\theta_c + \\tau
z_p + \\omega z_{cp}))`, and a condition's rate is then over its own prompt mix.

The counts: every used answer of a condition is in ``n`` (an empty score stays in the denominator and is never a
hit); ``k`` counts the answers whose binned scores meet every clause (:class:`~simstats.theory.rules.Behaviour`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import DataError, SpecError
from simstats.graph.design import ModelData
from simstats.graph.hierarchy import HierarchyNames, HierarchyTerm
from simstats.graph.names import CONDITION, PROMPT
from simstats.graph.terms import ConditionEffects
from simstats.kinds.base import ModelKind, Start, check_prob
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec, RateSpec

HIERARCHY = HierarchyNames(mu="mu", sigma="sd_{level}", group_centred="theta_{level}", group_z="z_{level}",
                           beta="beta", condition_centred="theta", condition_z="z_condition",
                           part_centred="theta_centred", part_z="z_condition", condition_value="theta")
EFFECTS = ConditionEffects(beta="beta")
RATE, OBSERVED, CELL = "rate", "k", "cell"
PROMPT_SD, CELL_SD, PROMPT_Z, CELL_Z = "sd_prompt", "sd_cell", "z_prompt", "z_cell"


def behaviour_of(spec: ModelSpec):
    """The behaviour a rate spec counts (``rates.behaviour``, else the first declared)."""
    r = spec.rates or RateSpec()
    b = spec.behaviour(r.behaviour)
    if b is None:
        raise SpecError(f"{spec.source}: a rate model counts a thresholded behaviour; declare one in [behaviours]")
    return b


def threshold_counts(patterns: Patterns, behaviour, *, by_prompt: bool = False) -> pd.DataFrame:
    """Per condition (or per condition and prompt): ``n`` answers and ``k`` that meet the behaviour, with the
    hierarchy columns and the empirical ``rate = k / n`` (module docstring for what is counted)."""
    for m in behaviour.measures:
        if m not in patterns.measures or m not in patterns.table.columns:
            raise DataError(f"the threshold rule ({behaviour.describe()}) needs the measure {m!r}, but the log has "
                            f"only {patterns.measures or 'no measures'}; map a column to {m!r} in the roles or "
                            "count a behaviour of the measures you have", column=m)
    if patterns.n_answers == 0:
        raise DataError("the log has no used answers to count")
    t = patterns.table
    hit = behaviour.pattern_hits(t, patterns.grids)
    levels = [lev for lev in patterns.condition_levels if lev in t.columns]
    keys = ["condition", "prompt"] if by_prompt else ["condition"]
    df = pd.DataFrame({k: t[k].astype(str) for k in keys + levels})
    df["n"] = t["count"].to_numpy()
    df["k"] = np.where(hit, t["count"].to_numpy(), 0)
    out = df.groupby(keys + levels, sort=True, observed=True)[["n", "k"]].sum().reset_index()
    if out.duplicated(keys).any():
        raise DataError("a hierarchy column is not constant within a condition", column=levels[0] if levels else None)
    out = out.set_index(keys)
    out["rate"] = out["k"] / out["n"]
    return out


def _cell_counts(data: ModelData, behaviour) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) per cell of the design."""
    hit = behaviour.pattern_hits(data.patterns.table, data.patterns.grids)
    n = np.bincount(data.pattern_cell, data.count, len(data.cell_count))
    k = np.bincount(data.pattern_cell, data.count * hit, len(data.cell_count))
    return n.astype(np.int64), k.astype(np.int64)


def _condition_counts(data: ModelData, behaviour) -> tuple[np.ndarray, np.ndarray]:
    n, k = _cell_counts(data, behaviour)
    C = len(data.conditions)
    return (np.bincount(data.cell_condition, n, C).astype(np.int64),
            np.bincount(data.cell_condition, k, C).astype(np.int64))


def _prompt_cells(data: ModelData) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The (condition, prompt) cells of the by-prompt variant (features merged): labels, condition and prompt
    index of each, and each design cell's (condition, prompt) cell."""
    key = data.cell_condition * len(data.prompts) + data.cell_prompt
    uniq, inv = np.unique(key, return_inverse=True)
    ci, pi = uniq // len(data.prompts), uniq % len(data.prompts)
    labels = [f"{data.conditions[c]}|{data.prompts[p]}" for c, p in zip(ci, pi)]
    return labels, np.stack([ci, pi]), inv


def hierarchy_term(spec: ModelSpec, data: ModelData) -> HierarchyTerm:
    r = spec.rates or RateSpec()
    return HierarchyTerm(HIERARCHY, data, param_dim=None, size=1, mu_prior=(np.array([r.logodds[0]]),
                                                                             np.array([r.logodds[1]])),
                         sigma=spec.hierarchy.sigma, structure=spec.hierarchy.structure, sd_floor=0.3)


def build(spec: ModelSpec, data: ModelData):
    """The PyMC model (module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    r = spec.rates or RateSpec()
    behaviour = behaviour_of(spec)
    coords: dict[str, Any] = {k: v for k, v in data.coords.items() if k not in ("persona", "persona_free")}
    with pm.Model(coords=coords) as model:
        h = hierarchy_term(spec, data)
        mean, var = h.build_upper()
        effects = EFFECTS.build(data, spec.conditions.coef_sd, None)
        theta = h.build_condition(mean if effects is None else mean + effects, var)[:, 0]
        if not r.by_prompt:
            n, k = _condition_counts(data, behaviour)
            p = pm.Deterministic(RATE, pm.math.invlogit(theta), dims=CONDITION)
            pm.Binomial(OBSERVED, n=n, p=p, observed=k, dims=CONDITION)
        else:
            labels, (ci, pi), inv = _prompt_cells(data)
            n_cell, k_cell = _cell_counts(data, behaviour)
            n = np.bincount(inv, n_cell, len(labels)).astype(np.int64)
            k = np.bincount(inv, k_cell, len(labels)).astype(np.int64)
            model.add_coord(CELL, labels)
            sd_prompt = pm.HalfNormal(PROMPT_SD, spec.hierarchy.sigma)
            sd_cell = pm.HalfNormal(CELL_SD, spec.hierarchy.sigma)
            z_p = pm.Normal(PROMPT_Z, 0.0, 1.0, dims=PROMPT)
            z_cp = pm.Normal(CELL_Z, 0.0, 1.0, dims=CELL)
            p_cp = pm.math.invlogit(theta[ci] + sd_prompt * z_p[pi] + sd_cell * z_cp)
            n_c = np.bincount(ci, n, len(data.conditions))
            w = np.zeros((len(data.conditions), len(labels)))
            w[ci, np.arange(len(labels))] = n / n_c[ci]
            pm.Deterministic(RATE, pt.dot(w, p_cp), dims=CONDITION)
            pm.Binomial(OBSERVED, n=n, p=p_cp, observed=k, dims=CELL)
    return model


def start(spec: ModelSpec, data: ModelData) -> Start:
    """Each condition at its empirical log-odds (with half an answer added to each side), the rest at 0."""
    n, k = _condition_counts(data, behaviour_of(spec))
    target = np.log((k + 0.5) / (n - k + 0.5))
    init, jitter, effects = EFFECTS.start(data, target)
    h_init, h_jitter = hierarchy_term(spec, data).start(target[:, None], None if effects is None else effects)
    init.update(h_init)
    jitter.update(h_jitter)
    if (spec.rates or RateSpec()).by_prompt:
        labels, _, _ = _prompt_cells(data)
        init.update({PROMPT_SD: np.array(0.3), CELL_SD: np.array(0.3), PROMPT_Z: np.zeros(len(data.prompts)),
                     CELL_Z: np.zeros(len(labels))})
        jitter.update({PROMPT_SD: "log", CELL_SD: "log"})
    return Start(init, jitter)


def jeffreys_interval(k, n, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Unpooled equal-tailed Jeffreys interval for a binomial rate: Beta(k + 1/2, n - k + 1/2) quantiles, with the
    lower end 0 when k = 0 and the upper end 1 when k = n (Brown, Cai & DasGupta 2001).

    >>> lo, hi = jeffreys_interval([0, 5], [100, 100])
    >>> float(lo[0]), round(float(hi[0]), 4), round(float(lo[1]), 4), round(float(hi[1]), 4)
    (0.0, 0.019, 0.0231, 0.0958)
    """
    from scipy.stats import beta

    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1 - prob) / 2
    lo = np.where(k > 0, beta.ppf(a, k + 0.5, n - k + 0.5), 0.0)
    hi = np.where(k < n, beta.ppf(1 - a, k + 0.5, n - k + 0.5), 1.0)
    return lo, hi


def _logit(p) -> np.ndarray:
    p = np.asarray(p, float)
    return np.log(p) - np.log1p(-p)


def rate_table(result, prob: float = 0.9) -> pd.DataFrame:
    """One row per condition: the hierarchy columns, ``n``, ``k``, the empirical ``rate``, the pooled posterior
    ``mean`` with its ``low`` / ``high`` interval, the unpooled Jeffreys interval and ``shrinkage`` (how far pooling
    moved the estimate from the empirical rate toward its group, on the log-odds scale)."""
    prob = check_prob(prob)
    table = threshold_counts(result.patterns, behaviour_of(result.spec)).reindex(result.conditions)
    flat = np.asarray(result.posterior[RATE]).reshape(-1, len(result.conditions))
    a = (1 - prob) / 2
    table["mean"] = flat.mean(0)
    table["low"], table["high"] = np.quantile(flat, [a, 1 - a], axis=0)
    table["jeffreys_low"], table["jeffreys_high"] = jeffreys_interval(table["k"], table["n"], prob)
    table["shrinkage"] = _logit(table["mean"]) - _logit((table["k"] + 0.5) / (table["n"] + 1))
    return table


class RatesKind(ModelKind):
    """The classic rate model's implementation of :class:`~simstats.kinds.base.ModelKind`."""

    name = "rates"

    def start(self, spec, data, *, em_iter=500, centring=None):
        return start(spec, data)

    def build(self, spec, data, *, centring=None, rows=False):
        return build(spec, data)

    def pattern_log_likelihood(self, posterior, spec, data):
        """Each answer is a hit or not: log rate or log(1 - rate) of its condition (the by-prompt variant: of its
        cell), (chain, draw, pattern)."""
        hit = behaviour_of(spec).pattern_hits(data.patterns.table, data.patterns.grids)
        if (spec.rates or RateSpec()).by_prompt:
            _, (ci, pi), inv = _prompt_cells(data)
            theta = np.asarray(posterior[HIERARCHY.condition_value])
            lo = (theta[..., ci] + np.asarray(posterior[PROMPT_SD])[..., None] * np.asarray(posterior[PROMPT_Z])[
                ..., pi] + np.asarray(posterior[CELL_SD])[..., None] * np.asarray(posterior[CELL_Z]))
            p = (1 / (1 + np.exp(-lo)))[..., inv[data.pattern_cell]]
        else:
            p = np.asarray(posterior[RATE])[..., data.pattern_condition]
        return np.where(hit, np.log(p), np.log1p(-p))

    def behaviour_rate_draws(self, result, behaviour, mix=None):
        counted = behaviour_of(result.spec)
        if behaviour is not None and behaviour.describe() != counted.describe():
            raise SpecError(f"this rate model counts {counted.describe()!r}, not {behaviour.describe()!r}")
        if mix is not None:
            raise SpecError("the rate model has one rate per condition: it has no rates per prompt feature")
        return np.asarray(result.posterior[RATE])

    def sampled_variables(self, names):
        return [n for n in names if n != HIERARCHY.condition_value]      # theta is the rate on another scale

    def rate_table(self, result, prob):
        return rate_table(result, prob)

    def summary(self, result, prob):
        table = rate_table(result, prob)
        return {"model": result.spec.name, "kind": "rates", "sampler": result.sampler, "interval": prob,
                "n_answers": int(result.patterns.n_answers), "diagnostics": result.diagnostics_dict(),
                "personas": {}, "rule": behaviour_of(result.spec).describe(),
                "rates": {c: {k: float(v) for k, v in row.items()} for c, row in
                          table[["n", "k", "rate", "mean", "low", "high"]].iterrows()},
                "notes": list(result.data.notes), "timings": result.timings}


KIND = RatesKind()

__all__ = ["EFFECTS", "HIERARCHY", "KIND", "RatesKind", "behaviour_of", "build", "jeffreys_interval", "rate_table",
           "start", "threshold_counts"]
