"""The persona mixture's quantities over posterior draws (NumPy, no recompilation): the forward model, persona
shares, effects, fingerprints, per-answer posteriors and the JSON report. Each equation comes from
:mod:`simstats.theory.formalism`.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.families.fingerprints import NO_SCORE
from simstats.graph.design import ModelData
from simstats.kinds.base import Emissions, empty_table, frame, interval
import simstats.kinds.mixture.graph as G
from simstats.kinds.mixture.start import anchor_tables
from simstats.spec import ModelSpec
from simstats.theory import formalism


# ------------------------------------------------------------------------------------------- the forward model
def cell_log_weights(posterior, data: ModelData) -> np.ndarray:
    """log P(persona | cell) for every draw: (..., cell, K), Bayes' rule over personas with the prompt as evidence
    (the NumPy mirror of the graph's :func:`~simstats.kinds.mixture.graph.persona_log_weights`).

    ``posterior`` is anything indexable by variable name giving arrays with the same leading axes (a DataTree node,
    a Dataset, a dict; one draw without leading axes).
    """
    eta = np.asarray(posterior[G.ETA])[..., data.cell_condition, :]
    xs, gs = [], []
    gamma = G.FEATURES.evaluate(posterior)
    if gamma is not None:
        xs.append(data.cell_x)
        gs.append(gamma)
    gamma_i = G.INTERACTIONS.evaluate(posterior)
    if gamma_i is not None and data.interaction_coefs:
        xs.append(data.cell_xi)
        gs.append(gamma_i)
    u = G.QUESTION.evaluate(posterior)
    evidence = formalism.context_evidence(xs, gs, None if u is None else u[..., data.cell_prompt, :])
    return formalism.persona_log_posterior(eta, evidence)


def fingerprint_units(posterior, data: ModelData, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """A measure's fingerprints as (table (..., U, K, categories), unit of each cell): shared (U = 1) or varying
    by condition (U = C, ``fpc_<measure>``)."""
    fpc = G.CONDITION_FINGERPRINT.format(measure=measure)
    if fpc in posterior:
        return np.asarray(posterior[fpc]), data.cell_condition
    fp = np.asarray(posterior[G.FINGERPRINT.format(measure=measure)])
    return fp[..., None, :, :], np.zeros(len(data.cell_condition), np.int64)


def emissions(posterior, spec: ModelSpec, data: ModelData) -> Emissions:
    """The persona weights of every cell and the personas' fingerprints, for every draw."""
    tables = {m: fingerprint_units(posterior, data, m) for m in data.measures}
    if data.verdict_levels is not None:
        tables["verdict"] = (np.asarray(posterior[G.VERDICT_FINGERPRINT])[..., None, :, :],
                             np.zeros(len(data.cell_condition), np.int64))
    return Emissions(cell_log_weights(posterior, data), tables)


def condition_shares(posterior, data: ModelData) -> np.ndarray:
    """Persona shares of each condition over its own prompt mix: (..., condition, K),
    share[c, k] = sum_{cells of c} n_cell P(k | cell) / n_c (:func:`formalism.persona_marginal`)."""
    return formalism.persona_marginal(np.exp(cell_log_weights(posterior, data)), data.condition_mix())


def feature_shares(posterior, data: ModelData, feature: str) -> np.ndarray:
    """Persona shares of each condition at each level of a prompt feature, over that condition's prompts with the
    level: (..., condition, level, K) in ``data.feature_levels[feature]`` order (reference first), NaN where a
    condition has no answer at a level."""
    C, L = len(data.conditions), len(data.feature_levels[feature])
    out = formalism.persona_marginal(np.exp(cell_log_weights(posterior, data)), data.feature_mix(feature))
    return out.reshape(*out.shape[:-2], C, L, out.shape[-1])


# ------------------------------------------------------------------------------------------------ tables
def shares(result, prob: float) -> pd.DataFrame:
    return frame({"condition": result.conditions, "persona": result.personas},
                 *interval(condition_shares(result.posterior, result.data), prob))


def question_shifts(result, prob: float) -> pd.DataFrame:
    u = G.QUESTION.evaluate(result.posterior)
    if u is None:
        return empty_table()
    return frame({"prompt": result.data.prompts, "persona": result.personas}, *interval(u, prob))


def feature_effects(result, prob: float) -> pd.DataFrame:
    gamma = G.FEATURES.evaluate(result.posterior)
    if gamma is None:
        return empty_table()
    return frame({"coef": result.data.coefs, "persona": result.personas}, *interval(gamma, prob))


def interaction_effects(result, prob: float) -> pd.DataFrame:
    gamma = G.INTERACTIONS.evaluate(result.posterior)
    if gamma is None:
        return empty_table()
    return frame({"interaction": result.data.interaction_coefs, "persona": result.personas}, *interval(gamma, prob))


def condition_effects(result, prob: float) -> pd.DataFrame:
    """Condition effects on the persona log-odds against the reference persona, by (effect, persona)."""
    if G.EFFECTS.beta not in result.posterior:
        return empty_table()
    b = np.asarray(result.posterior[G.EFFECTS.beta])
    b = np.concatenate([np.zeros((*b.shape[:-1], 1)), b], axis=-1)
    return frame({"effect": result.data.condition_coefs, "persona": result.personas}, *interval(b, prob))


def feature_share_table(result, feature: str, prob: float) -> pd.DataFrame:
    if feature not in result.data.feature_levels:
        raise SimstatsError(f"{feature!r} is not a prompt feature of this fit "
                            f"(features: {list(result.data.feature_levels)})")
    draws = feature_shares(result.posterior, result.data, feature)
    return frame({"condition": result.conditions, feature: result.data.feature_levels[feature],
                  "persona": result.personas}, *interval(draws, prob))


def fingerprint_table(result, prob: float) -> pd.DataFrame:
    """Each persona's fingerprint, rows (persona, statistic): per score its mean on the data's scale (given a
    score), per outcome with levels the probability of each level (``<measure>=<level>``, given a value), the
    no-score rate of every measure, and verdict rates."""
    rows = {}
    for m in result.data.measures:
        fp = np.asarray(result.posterior[G.FINGERPRINT.format(measure=m)])
        grid = result.data.patterns.grids[m]
        scored = fp[..., 1:]
        if grid.is_levels:
            given = scored / scored.sum(-1, keepdims=True)
            for j, level in enumerate(grid.labels):
                rows[f"{m}={level}"] = interval(given[..., j], prob)
        else:
            rows[f"{m}_mean"] = interval((scored * grid.centres).sum(-1) / scored.sum(-1), prob)
        rows[f"{m}_{NO_SCORE}"] = interval(fp[..., 0], prob)
    if G.VERDICT_FINGERPRINT in result.posterior:
        fv = np.asarray(result.posterior[G.VERDICT_FINGERPRINT])
        for j, lv in enumerate(result.data.verdict_levels or []):
            rows[f"verdict_{lv}"] = interval(fv[..., j], prob)
    out = [{"persona": p, "statistic": stat, "mean": mean[k], "low": lo[k], "high": hi[k]}
           for stat, (mean, lo, hi) in rows.items() for k, p in enumerate(result.personas)]
    return pd.DataFrame(out).set_index(["persona", "statistic"])


def fingerprint_summary(result, f: pd.DataFrame, measure: str) -> float:
    """One number per persona and measure for the report: a score's mean, or an outcome's probability of its last
    level (a binary measure's "yes")."""
    grid = result.data.patterns.grids[measure]
    stat = f"{measure}={grid.labels[-1]}" if grid.is_levels else f"{measure}_mean"
    return float(f.loc[stat, "mean"])


# ------------------------------------------------------------------------------------------------ checks
def labels_match_anchors(posterior, spec: ModelSpec, data: ModelData) -> bool:
    """True when the posterior-mean fingerprints sit closest to their own personas' anchors (an L1 assignment);
    False means the data put a persona where another's name fits better: the names may mislead."""
    tabs = anchor_tables(spec, data)
    names = [n for n in tabs if n in posterior]
    est = np.concatenate([np.asarray(posterior[n]).mean((0, 1)) for n in names], axis=-1)
    anchor = np.concatenate([tabs[n] for n in names], axis=-1)
    K = est.shape[0]
    if K <= 7:
        best = min(permutations(range(K)), key=lambda p: np.abs(est[list(p)] - anchor).sum())
    else:
        from scipy.optimize import linear_sum_assignment
        r, c = linear_sum_assignment(np.abs(est[:, None, :] - anchor[None, :, :]).sum(-1))
        best = tuple(int(x) for x in r[np.argsort(c)])
    return tuple(best) == tuple(range(K))


def anchor_check(posterior, spec: ModelSpec, data: ModelData) -> list[str]:
    if len(data.personas) > 1 and not labels_match_anchors(posterior, spec, data):
        return ["fitted fingerprints sit closer to another persona's anchors than to their own: the persona names "
                "may not fit these data"]
    return []


# ------------------------------------------------------------------------------------------------ report
def _persona_behaviour_rates(result) -> dict[str, np.ndarray]:
    """behaviour -> (K,): each persona's probability of showing it (posterior-mean fingerprints)."""
    K = len(result.personas)
    out = {}
    for b in result.behaviours:
        tables = {m: np.asarray(result.posterior[G.FINGERPRINT.format(measure=m)]).mean((0, 1)) for m in b.measures}
        out[b.name] = b.rate(np.eye(K), tables, result.data.patterns.grids)
    return out


def summary(result, prob: float) -> dict[str, Any]:
    """The JSON report: diagnostics, personas with fingerprints, per-condition shares, threshold rates and the
    condition and interaction effects."""
    fp = result.fingerprints(prob)
    sh = result.shares(prob)
    ce = result.condition_effects(prob)
    personas = {}
    rates = _persona_behaviour_rates(result)
    for k, p in enumerate(result.personas):
        f = fp.loc[p]
        personas[p] = {"fingerprint": {m: fingerprint_summary(result, f, m) for m in result.data.measures},
                       "no_score": {m: float(f.loc[f"{m}_{NO_SCORE}", "mean"]) for m in result.data.measures}}
        if rates:
            personas[p]["behaviour_rates"] = {name: float(r[k]) for name, r in rates.items()}
            personas[p]["behaviour_rate"] = float(next(iter(rates.values()))[k])     # the first behaviour's
    conditions = {c: {p: {k: float(sh.loc[(c, p), k]) for k in ("mean", "low", "high")} for p in result.personas}
                  for c in result.conditions}
    grids = result.data.patterns.grids
    out = {
        "model": result.spec.name, "sampler": result.sampler, "interval": prob,
        "n_answers": int(result.patterns.n_answers), "diagnostics": result.diagnostics_dict(),
        "fingerprint_labels": {m: f"P({m} = {grids[m].labels[-1]})" if grids[m].is_levels else f"mean {m}"
                               for m in result.data.measures},
        "personas": personas, "conditions": conditions, **result.behaviour_dicts(prob),
        "condition_effects": {e: {p: {k: float(ce.loc[(e, p), k]) for k in ("mean", "low", "high")}
                                  for p in result.personas[1:]} for e in result.data.condition_coefs},
    }
    ev = result.evidence(prob)
    if len(ev):
        out["evidence"] = {t: {p: {k: (str(v) if k == "source" else float(v)) for k, v in ev.loc[(t, p)].items()}
                               for p in ev.loc[t].index} for t in dict.fromkeys(ev.index.get_level_values(0))}
        out["reference_persona"] = result.personas[0]
    if result.data.interaction_coefs:
        ie = result.interaction_effects(prob)
        out["interaction_effects"] = {n: {p: {k: float(ie.loc[(n, p), k]) for k in ("mean", "low", "high")}
                                          for p in result.personas[1:]} for n in result.data.interaction_coefs}
    out["notes"] = [*(["fingerprints vary by condition; the fingerprints shown are the shared ones they vary "
                       "around"] if result.data.fingerprint_vary == "condition" else []), *result.data.notes]
    out["timings"] = result.timings
    return out


__all__ = ["anchor_check", "cell_log_weights", "condition_effects", "condition_shares", "emissions",
           "feature_effects", "feature_share_table", "feature_shares", "fingerprint_table", "fingerprint_units",
           "interaction_effects", "labels_match_anchors", "question_shifts", "shares", "summary"]
