"""The degradation model (``[model] kind = "degradation"``): no personas. Fine-tuning degrades the model instead of
selecting a persona, so each condition's scores follow ONE bounded distribution per measure whose location and
spread shift with the condition.

For condition c, question q with prompt features x(q), and measure m (scores on [lo, hi] in B bins, scaled to
[0, 1])::

    theta[c, :]   = mu + sum_levels (sd_level * z_level)[group(c)] + x_c . beta + sd_condition * z[c]
                    one vector per condition: (loc_m, spread_m, noscore_m) per measure, then the verdict logits
    loc_m(c, q)   = loc_m[c] + x(q) . gamma_m + u_m[q]                     u_m zero-sum over questions
    s_m(c)        = sigmoid(noscore_m[c])
    P(y_m = no score | c, q) = s_m(c)
    P(y_m in bin b | c, q)   = (1 - s_m(c)) * F_m(bin b | loc_m(c, q), spread_m[c])
    P(verdict = v | c)       = softmax(0, vlogit[c, :])_v         ("scored", else the first level, is the reference)
    P(answer | c, q)         = prod_m P(y_m | c, q) * P(verdict | c)           (measures independent given c, q)

``F_m`` is the measure's ``likelihood`` (:mod:`simstats.likelihoods`):

- ``binned_logit_normal`` (models/degradation.toml): logit(y) ~ Normal(loc, exp(log_scale)); bin masses are
  differences of normal CDFs. ``log_scale`` ~ Normal(0, 1) at the population level.
- ``binned_beta``: y ~ Beta(mean conc, (1 - mean) conc) with mean = sigmoid(loc), conc = exp(log_concentration);
  bin masses are differences of the regularised incomplete beta function (``betainc``, whose gradients in the shape
  arguments cost ~10x a normal CDF's: on the real log the fit did not finish in 105 minutes).
  ``log_concentration`` ~ Normal(log 4, 1).

Priors: ``mu`` ~ Normal(0, 1.5) for loc, the spread prior above, Normal(-3, 2) for noscore and the verdict logits;
every level's ``sd`` ~ HalfNormal(``hierarchy.sigma``), the levels above the condition non-centred
(``z ~ Normal(0, 1)``), the condition level as :func:`centred_mask` says, and a group with one child handing its
variance down as in the mixture (:mod:`simstats.graph.hierarchy`); ``beta`` ~
Normal(0, ``conditions.coef_sd``); ``gamma_m`` ~ Normal(0, ``prompt.coef_sd``); ``u_m = sigma_question_m * ZeroSum``
(``prompt.question_effect``; ``sigma_question_m`` ~ HalfNormal(``prompt.question_sigma``)).

Everything after the fit (LOO, threshold rates, the report) is NumPy over the draws of ``theta_condition``,
``gamma_location`` and ``u_location`` (:func:`emissions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from simstats.families.bins import (
    beta_bin_probs,
    beta_bins_pt,
    binned_beta_start,
    binned_logit_normal_start,
    logit_normal_bin_probs,
    logit_normal_bins_pt,
    logit_normal_moments,
)
from simstats.graph.design import ModelData, data_arrays
from simstats.graph.hierarchy import HierarchyNames, HierarchyTerm
from simstats.graph.names import COEF, CONDITION
from simstats.graph.terms import Coefficients, ConditionEffects, QuestionEffect
from simstats.kinds.base import Emissions, ModelKind, Start, frame, interval
from simstats.spec import ModelSpec

PARAM, MEASURE = "degradation_param", "measure"
#: every variable name of the degradation model, in one place
HIERARCHY = HierarchyNames(mu="theta_mu", sigma="theta_sigma_{level}", group_centred="theta_{level}",
                           group_z="theta_z_{level}", beta="theta_beta", condition_centred="theta_condition",
                           condition_z="theta_z_condition", part_centred="theta_condition_centred",
                           part_z="theta_z_condition", condition_value="theta_condition")
EFFECTS = ConditionEffects(beta="theta_beta")
FEATURES = Coefficients("gamma_location", None, COEF)
QUESTION = QuestionEffect("u_location")
THETA = HIERARCHY.condition_value
#: the score distributions a degradation model can use (a measure's ``likelihood``)
SHAPES = ("binned_logit_normal", "binned_beta")
#: per shape, (name, prior mean, prior sd) of each measure's three condition-level parameters, in this order:
#: location, spread, no-score logit
MEASURE_PARAMS = {
    "binned_logit_normal": (("location", 0.0, 1.5), ("log_scale", 0.0, 1.0), ("no_score", -3.0, 2.0)),
    "binned_beta": (("location", 0.0, 1.5), ("log_concentration", float(np.log(4.0)), 1.0), ("no_score", -3.0, 2.0)),
}
N_MEASURE_PARAMS = 3
VERDICT_PRIOR = (-3.0, 2.0)     # logit of a non-reference verdict against the reference


# ------------------------------------------------------------------------------------------------- parameters
def verdict_reference(levels: list[str]) -> str:
    """The reference verdict (logit 0): ``scored`` when the log has it, else the first level."""
    return "scored" if "scored" in levels else levels[0]


def param_table(data: ModelData) -> pd.DataFrame:
    """One row per element of ``theta``: ``label`` (``aligned:location``, ``verdict:CODE``), ``measure``,
    ``param`` and the prior ``mean`` and ``sd`` of its population value."""
    rows = [{"label": f"{m}:{p}", "measure": m, "param": p, "mean": mu, "sd": sd}
            for m in data.measures for p, mu, sd in MEASURE_PARAMS[shape(data, m)]]
    if data.verdict_levels is not None:
        ref = verdict_reference(data.verdict_levels)
        rows += [{"label": f"verdict:{v}", "measure": "verdict", "param": v, "mean": VERDICT_PRIOR[0],
                  "sd": VERDICT_PRIOR[1]} for v in data.verdict_levels if v != ref]
    return pd.DataFrame(rows)


def shape(data: ModelData, measure: str) -> str:
    """The score distribution of ``measure`` (one of :data:`SHAPES`)."""
    return data.measure_likelihood.get(measure, "binned_beta")


def _column(data: ModelData, measure: str, param: str) -> int:
    """Column of theta holding ``param`` (``location``, ``spread`` or ``no_score``) of ``measure``."""
    return N_MEASURE_PARAMS * data.measures.index(measure) + ("location", "spread", "no_score").index(param)


def _bins_pt(data: ModelData, measure: str, loc, spread):
    """PyTensor bin probabilities (n, B) of ``measure`` from column vectors of location and spread parameters."""
    import pytensor.tensor as pt

    g = data.patterns.grids[measure]
    if shape(data, measure) == "binned_logit_normal":
        return logit_normal_bins_pt(loc, pt.exp(spread), g)
    return beta_bins_pt(pt.sigmoid(loc), pt.exp(spread), g)


def _bins_np(data: ModelData, measure: str, loc: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """NumPy mirror of :func:`_bins_pt` for any leading shape: (..., B), floored at 1e-300."""
    g = data.patterns.grids[measure]
    if shape(data, measure) == "binned_logit_normal":
        probs = logit_normal_bin_probs(g, loc, np.exp(spread))
    else:
        probs = beta_bin_probs(g, special.expit(loc), np.exp(spread))
    return np.clip(probs, 1e-300, 1.0)


# ------------------------------------------------------------------------------------------------------ PyMC
def hierarchy_term(spec: ModelSpec, data: ModelData, mask: np.ndarray | None = None) -> HierarchyTerm:
    """theta (condition, param): population mean plus effects down the condition hierarchy (non-centred above the
    condition), the condition level centred where :func:`centred_mask` says."""
    prior = param_table(data)
    mask = centred_mask(spec, data) if mask is None else np.asarray(mask, bool)
    form = "centred" if mask.all() else "noncentred" if not mask.any() else "masked"
    return HierarchyTerm(HIERARCHY, data, param_dim=PARAM, size=len(prior),
                         mu_prior=(prior["mean"].to_numpy(), prior["sd"].to_numpy()), sigma=spec.hierarchy.sigma,
                         structure=spec.hierarchy.structure, condition_form=form, mask=mask, sd_floor=0.2)


def _pooled_theta(spec: ModelSpec, data: ModelData, mask: np.ndarray | None):
    """theta (condition, param): the hierarchy, with the condition effects on its mean."""
    h = hierarchy_term(spec, data, mask)
    mean, var = h.build_upper()
    effects = EFFECTS.build(data, spec.conditions.coef_sd, PARAM)
    return h.build_condition(mean if effects is None else mean + effects, var)


#: an element of a condition's theta is "pinned" (centred under ``adaptive``) when its data hold at least this many
#: answers on each side: scored answers for a location or spread, no-score and scored answers for a no-score rate,
#: answers of the verdict and of the reference verdict for a verdict logit
MIN_PINNING_ANSWERS = 10


def centred_mask(spec: ModelSpec, data: ModelData) -> np.ndarray:
    """(C, P) mask of the condition-level elements of theta that are centred.

    ``hierarchy.parametrization``: ``noncentred`` none; ``centred`` and ``mixed`` all (the levels above the
    condition are always non-centred); ``adaptive`` the locations and rates the data pin
    (:data:`MIN_PINNING_ANSWERS`), never the spreads. Measured on the real log (4 x 1,000 draws):

    - every element centred: a rare event (coherent scores are almost never missing) only bounds its logit, and
      its centred element makes a funnel with the condition sd: ``coherent:no_score``'s sd at R-hat 1.22, bulk
      ESS 14;
    - spreads centred too: the conditions' log-scales differ by an sd of only 0.07-0.14, about as much as the
      data pin each one, and one chain sank into the funnel (sd 0.01 against 0.14 in the others; R-hat 1.53,
      601 divergences). Non-centred, such an element is a small offset the data barely move, which NUTS samples.
    """
    C, P = len(data.conditions), len(param_table(data))
    mode = spec.hierarchy.parametrization
    if mode != "adaptive":
        return np.full((C, P), mode != "noncentred")
    pc, cnt = data.pattern_condition, data.count.astype(float)
    cols = []
    for m in data.measures:
        cat = data.pattern_cat[m]
        scored = np.bincount(pc, (cat > 0) * cnt, C)
        missing = np.bincount(pc, (cat == 0) * cnt, C)
        cols += [scored, np.zeros(C), np.minimum(scored, missing)]     # spread: never centred (see above)
    if data.verdict_levels is not None:
        n = np.stack([np.bincount(pc, (data.pattern_verdict == i) * cnt, C)
                      for i in range(len(data.verdict_levels))], axis=1)
        r = data.verdict_levels.index(verdict_reference(data.verdict_levels))
        cols += [np.minimum(n[:, i], n[:, r]) for i in range(len(data.verdict_levels)) if i != r]
    return np.stack(cols, axis=1) >= MIN_PINNING_ANSWERS


def _location_shifts(spec: ModelSpec, data: ModelData, D: dict):
    """Per cell and measure, the prompt's shift of the location logit: x(q) . gamma + u[q] (cells, M)."""
    import pytensor.tensor as pt

    shift = pt.zeros((len(data.cell_count), len(data.measures)))
    if data.coefs:
        shift = shift + D["cell_x"] @ FEATURES.build(spec.prompt.coef_sd, MEASURE)
    if QUESTION.active(spec, data):
        shift = shift + QUESTION.build(spec, MEASURE)[D["cell_prompt"]]
    return shift


def _logtable(data: ModelData, measure: str, loc, spread, noscore):
    """log P(category) per cell (cells, 1 + B): no score first, then the mass of each bin."""
    import pytensor.tensor as pt

    bins = _bins_pt(data, measure, loc[:, None], spread[:, None])
    return pt.concatenate([pt.log(noscore)[:, None], pt.log1p(-noscore)[:, None] + pt.log(bins)], axis=1)


def build_degradation(spec: ModelSpec, data: ModelData, *, centring: np.ndarray | None = None, rows: bool = False):
    """The PyMC model of the degradation spec (the module docstring's equations) on ``data``; ``centring`` is the
    (C, P) mask of centred condition-level elements (default :func:`centred_mask`).

    One ``pm.Potential("loglik")``: sum over patterns of count * log P(pattern). ``rows`` is accepted for the kind
    interface only: this likelihood has no fused kernel to check, its pattern sum is plain PyTensor.
    """
    import pymc as pm
    import pytensor.tensor as pt

    prior = param_table(data)
    coords = {**data.coords, PARAM: prior["label"].tolist(), MEASURE: data.measures}
    with pm.Model(coords=coords) as model:
        D = {n: pm.Data(n, v) for n, v in data_arrays(data).items()}
        theta = _pooled_theta(spec, data, centring)                           # (C, P)
        shift = _location_shifts(spec, data, D)
        cell_c, pat_cell, pat_em, count = D["cell_condition"], D["pattern_cell"], D["pattern_emission"], D["count"]
        ll = 0.0
        th = theta[cell_c]                                                      # (cells, P), gathered once
        for j, m in enumerate(data.measures):
            loc = th[:, _column(data, m, "location")] + shift[:, j]
            noscore = pt.sigmoid(th[:, _column(data, m, "no_score")])
            logtab = _logtable(data, m, loc, th[:, _column(data, m, "spread")], noscore)
            ll = ll + pt.sum(count * logtab[pat_cell, D[f"emission_cat_{m}"][pat_em]])
        if data.verdict_levels is not None:
            logv = _verdict_logits(theta, data, pt)
            logv = logv - pt.logsumexp(logv, axis=1, keepdims=True)               # (C, V)
            ll = ll + pt.sum(count * logv[cell_c[pat_cell], D["emission_cat_verdict"][pat_em]])
        pm.Potential("loglik", ll)
    return model


def _verdict_logits(theta, data: ModelData, xp):
    """(…, C, V) verdict logits in ``data.verdict_levels`` order, 0 for the reference (``xp``: numpy or pt)."""
    levels = data.verdict_levels
    ref = verdict_reference(levels)
    first = N_MEASURE_PARAMS * len(data.measures)
    cols, j = [], first
    for v in levels:
        if v == ref:
            cols.append(xp.zeros_like(theta[..., 0]))
        else:
            cols.append(theta[..., j])
            j += 1
    return xp.stack(cols, axis=-1)


# ---------------------------------------------------------------------------------- NumPy functions of draws
def cell_tables(posterior, data: ModelData, measure: str) -> np.ndarray:
    """P(category) of ``measure`` in every cell and draw: (..., cell, 1 + B), no score first."""
    theta = np.asarray(posterior[THETA])[..., data.cell_condition, :]                   # (..., cells, P)
    j = data.measures.index(measure)
    loc = theta[..., _column(data, measure, "location")]
    gamma = FEATURES.evaluate(posterior)
    if gamma is not None:
        loc = loc + np.einsum("nf,...f->...n", data.cell_x, gamma[..., j])
    u = QUESTION.evaluate(posterior)
    if u is not None:
        loc = loc + u[..., data.cell_prompt, j]
    s = special.expit(theta[..., _column(data, measure, "no_score")])[..., None]
    bins = _bins_np(data, measure, loc, theta[..., _column(data, measure, "spread")])
    return np.concatenate([s, (1 - s) * bins], axis=-1)


def verdict_probs(posterior, data: ModelData) -> np.ndarray:
    """P(verdict | condition): (..., condition, V) in ``data.verdict_levels`` order."""
    lg = _verdict_logits(np.asarray(posterior[THETA]), data, np)
    return special.softmax(lg, axis=-1)


def emissions(posterior, spec: ModelSpec, data: ModelData) -> Emissions:
    """One component per cell (no personas): its score distributions and the condition's verdict probabilities."""
    n = len(data.cell_condition)
    tables = {m: (cell_tables(posterior, data, m)[..., None, :], np.arange(n)) for m in data.measures}
    if data.verdict_levels is not None:
        tables["verdict"] = (verdict_probs(posterior, data)[..., None, :], data.cell_condition)
    lead = np.asarray(posterior[THETA]).shape[:-2]
    return Emissions(np.zeros((*lead, n, 1)), tables)


def condition_draws(posterior, data: ModelData, measure: str) -> dict[str, np.ndarray]:
    """Per condition (at the reference prompt features and the average question): ``mean`` and ``sd`` of the
    score on the data's scale given a score, and the ``no_score`` rate; each (chain, draw, condition)."""
    theta = np.asarray(posterior[THETA])
    g = data.patterns.grids[measure]
    width = g.upper - g.lower
    loc = theta[..., _column(data, measure, "location")]
    spread = np.exp(theta[..., _column(data, measure, "spread")])
    if shape(data, measure) == "binned_logit_normal":
        m, sd = logit_normal_moments(loc, spread)
    else:
        m = special.expit(loc)
        sd = np.sqrt(m * (1 - m) / (1 + spread))
    return {"mean": g.lower + width * m, "sd": width * sd,
            "no_score": special.expit(theta[..., _column(data, measure, "no_score")])}


# ------------------------------------------------------------------------------------------------ start values
def _empirical_theta(data: ModelData) -> np.ndarray:
    """(C, P) method-of-moments values of theta per condition from the binned scores (the sampler's start)."""
    C = len(data.conditions)
    pc, cnt = data.pattern_condition, data.count.astype(float)
    cols = []
    for m in data.measures:
        g = data.patterns.grids[m]
        cat = data.pattern_cat[m]
        counts = np.zeros((C, g.n_bins))                    # scored answers per condition and bin
        np.add.at(counts, (pc[cat > 0], cat[cat > 0] - 1), cnt[cat > 0])
        start = binned_logit_normal_start if shape(data, m) == "binned_logit_normal" else binned_beta_start
        loc, spread = start(g, counts)
        miss = (np.bincount(pc, (cat == 0) * cnt, C) + 0.5) / (np.bincount(pc, cnt, C) + 1.0)
        cols += [loc, spread, special.logit(miss)]
    if data.verdict_levels is not None:
        ref = verdict_reference(data.verdict_levels)
        n = np.stack([np.bincount(pc, (data.pattern_verdict == i) * cnt, C) + 0.5
                      for i in range(len(data.verdict_levels))], axis=1)
        r = data.verdict_levels.index(ref)
        cols += [np.log(n[:, i] / n[:, r]) for i, v in enumerate(data.verdict_levels) if v != ref]
    return np.stack(cols, axis=1)


def start(spec: ModelSpec, data: ModelData, centring: np.ndarray | None = None) -> Start:
    """Start values of every free variable of :func:`build_degradation`: each condition at its empirical moments,
    the prompt terms at 0; the centred elements are :func:`centred_mask`'s (or ``centring``)."""
    theta = _empirical_theta(data)
    mask = centred_mask(spec, data) if centring is None else np.asarray(centring, bool)
    init, jitter, effects = EFFECTS.start(data, theta)
    h_init, h_jitter = hierarchy_term(spec, data, mask).start(theta, effects)
    init.update(h_init)
    jitter.update(h_jitter)
    M = len(data.measures)
    if data.coefs:
        init[FEATURES.free] = np.zeros((len(data.coefs), M))
    if QUESTION.active(spec, data):
        q_init, q_jitter = QUESTION.start(None, M, len(data.prompts))
        init.update(q_init)
        jitter.update(q_jitter)
    return Start(init, jitter, mask)


# ------------------------------------------------------------------------------------------------ simulation
def truth(draw: dict[str, np.ndarray], spec: ModelSpec, data: ModelData) -> dict:
    """Every parameter of one prior draw, in the JSON layout of a truth file (labels as in the model)."""
    labels, M = param_table(data)["label"].tolist(), data.measures

    def named(rows: list[str], arr, cols: list[str]) -> dict:
        arr = np.asarray(arr, float).reshape(len(rows), len(cols))
        return {r: {c: float(v) for c, v in zip(cols, arr[i])} for i, r in enumerate(rows)}

    levs = [*data.levels, CONDITION]
    active = QUESTION.active(spec, data)
    return {"theta_mu": dict(zip(labels, map(float, draw[HIERARCHY.mu]))),
            "theta_sigma": {lev: dict(zip(labels, map(float, draw[HIERARCHY.level(HIERARCHY.sigma, lev)])))
                            for lev in levs},
            "theta_beta": named(data.condition_coefs, draw.get(EFFECTS.beta, np.zeros((0, len(labels)))), labels),
            "theta_condition": named(data.conditions, draw[THETA], labels),
            "gamma_location": named(data.coefs, draw.get(FEATURES.free, np.zeros((len(data.coefs), len(M)))), M),
            "sigma_question": dict(zip(M, map(float, draw[QUESTION.sigma]))) if active else None,
            "u_location": named(data.prompts, draw[QUESTION.value] if active else np.zeros((len(data.prompts),
                                                                                           len(M))), M)}


def truth_arrays(P: dict, spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
    """The truth's ``theta_condition``, ``gamma_location`` and ``u_location`` as arrays (one draw)."""
    labels = param_table(data)["label"].tolist()

    def table(d: dict, rows: list[str], cols: list[str]) -> np.ndarray:
        return np.array([[float(d[r][c]) for c in cols] for r in rows], dtype=float).reshape(len(rows), len(cols))

    return {THETA: table(P["theta_condition"], data.conditions, labels),
            FEATURES.free: table(P["gamma_location"], data.coefs, data.measures),
            QUESTION.value: table(P["u_location"], data.prompts, data.measures)}


# ------------------------------------------------------------------------------------------------ results
def distribution_table(result, prob: float) -> pd.DataFrame:
    """Each condition's score distribution (at the reference prompt features and the average question): mean and
    sd of each score on the data's scale given a score, and its no-score rate; rows (condition, statistic)."""
    out = []
    for m in result.data.measures:
        for stat, draws in condition_draws(result.posterior, result.data, m).items():
            mean, lo, hi = interval(draws, prob)
            out += [{"condition": c, "statistic": f"{m}_{stat}", "mean": mean[j], "low": lo[j], "high": hi[j]}
                    for j, c in enumerate(result.conditions)]
    return pd.DataFrame(out).set_index(["condition", "statistic"])


class DegradationKind(ModelKind):
    """The degradation model's implementation of :class:`~simstats.kinds.base.ModelKind`."""

    name = "degradation"
    reparametrises = True

    def start(self, spec, data, *, em_iter=500, centring=None):
        return start(spec, data, centring)

    def build(self, spec, data, *, centring=None, rows=False):
        return build_degradation(spec, data, centring=centring, rows=rows)

    def emissions(self, posterior, spec, data):
        return emissions(posterior, spec, data)

    def truth(self, draw, spec, data):
        return truth(draw, spec, data)

    def truth_arrays(self, truth_, spec, data):
        return truth_arrays(truth_, spec, data)

    def condition_distributions(self, result, prob):
        return distribution_table(result, prob)

    def condition_effects(self, result, prob):
        if EFFECTS.beta not in result.posterior:
            return super().condition_effects(result, prob)
        labels = param_table(result.data)["label"].tolist()
        return frame({"effect": result.data.condition_coefs, "parameter": labels},
                     *interval(np.asarray(result.posterior[EFFECTS.beta]), prob))

    def summary(self, result, prob) -> dict[str, Any]:
        """Per condition and measure the score's mean, sd and no-score rate."""
        dist = result.condition_distributions(prob)
        conditions = {c: {m: {st: {k: float(dist.loc[(c, f"{m}_{st}"), k]) for k in ("mean", "low", "high")}
                              for st in ("mean", "sd", "no_score")} for m in result.data.measures}
                      for c in result.conditions}
        return {"model": result.spec.name, "kind": "degradation", "sampler": result.sampler, "interval": prob,
                "n_answers": int(result.patterns.n_answers), "diagnostics": result.diagnostics_dict(),
                "personas": {}, "distributions": conditions, **result.behaviour_dicts(prob),
                "notes": ["a degradation model has no personas: each condition's scores are one binned "
                          "distribution per measure (logit-normal or Beta)", *result.data.notes],
                "timings": result.timings}


KIND = DegradationKind()

__all__ = ["EFFECTS", "FEATURES", "HIERARCHY", "KIND", "MEASURE", "MEASURE_PARAMS", "MIN_PINNING_ANSWERS", "PARAM",
           "QUESTION", "SHAPES", "DegradationKind", "build_degradation", "cell_tables", "centred_mask",
           "condition_draws", "distribution_table", "emissions", "param_table", "shape", "start", "truth",
           "truth_arrays", "verdict_probs", "verdict_reference"]
