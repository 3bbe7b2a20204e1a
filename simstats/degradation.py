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
variance down as in the mixture (:mod:`simstats.builders`); ``beta`` ~
Normal(0, ``conditions.coef_sd``); ``gamma_m`` ~ Normal(0, ``prompt.coef_sd``); ``u_m = sigma_question_m * ZeroSum``
(``prompt.question_effect``; ``sigma_question_m`` ~ HalfNormal(``prompt.question_sigma``)).

Everything after the fit (LOO, threshold rates, the report) is NumPy over the draws of ``theta``,
``gamma_location`` and ``u_location``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from simstats.builders import CONDITION, CONDITION_COEF, COEF, PROMPT, ModelData, data_arrays, question_effect
from simstats.likelihoods import (beta_bin_probs, beta_bins_pt, binned_beta_start, binned_logit_normal_start,
                                  logit_normal_bin_probs, logit_normal_bins_pt, logit_normal_moments)
from simstats.spec import ModelSpec

PARAM, MEASURE = "degradation_param", "measure"
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
def _pooled_theta(spec: ModelSpec, data: ModelData, prior: pd.DataFrame):
    """theta (condition, param): population mean plus non-centred effects down the condition hierarchy."""
    import pymc as pm
    import pytensor.tensor as pt

    C, P = len(data.conditions), len(prior)
    mu = pm.Normal("theta_mu", prior["mean"].to_numpy(), prior["sd"].to_numpy(), dims=PARAM)
    sig = [pm.HalfNormal(f"theta_sigma_{lev}", spec.hierarchy.sigma, dims=PARAM)
           for lev in [*data.levels, CONDITION]]
    var = pt.stack(sig) ** 2                                                   # (L + 1, P)
    theta = pt.broadcast_to(mu[None, :], (C, P))
    for i, lev in enumerate(data.levels):
        idx = data.free_group_index(i)
        free = np.flatnonzero(data.level_scale[i].any(1))
        if len(free) == 0:
            continue
        sd_g = pt.sqrt(pt.dot(pt.as_tensor(data.level_scale[i][free]), var))     # (free groups, P)
        z = pm.Normal(f"theta_z_{lev}", 0.0, 1.0, dims=(lev, PARAM))
        theta = theta + pt.where((idx >= 0)[:, None], (sd_g * z)[np.maximum(idx, 0)], 0.0)
    if data.condition_coefs:
        beta = pm.Normal("theta_beta", 0.0, spec.conditions.coef_sd, dims=(CONDITION_COEF, PARAM))
        theta = theta + pt.dot(pt.as_tensor(data.condition_x), beta)
    sd_c = pt.sqrt(pt.dot(pt.as_tensor(data.condition_scale), var))            # (C, P)
    mask = centred_mask(spec, data)
    if mask.all():          # hundreds of answers pin each condition: centred avoids the funnel of z and sd
        return pm.Normal(f"theta_{CONDITION}", theta, sd_c, dims=(CONDITION, PARAM))
    if not mask.any():
        z = pm.Normal(f"theta_z_{CONDITION}", 0.0, 1.0, dims=(CONDITION, PARAM))
        return pm.Deterministic(f"theta_{CONDITION}", theta + sd_c * z, dims=(CONDITION, PARAM))
    ic, inc = np.flatnonzero(mask.ravel()), np.flatnonzero(~mask.ravel())    # "adaptive": some of each
    mean, sd = theta.reshape((-1,)), sd_c.reshape((-1,))
    a = pm.Normal(f"theta_{CONDITION}_centred", mean[ic], sd[ic], shape=len(ic))
    z = pm.Normal(f"theta_z_{CONDITION}", 0.0, 1.0, shape=len(inc))
    flat = pt.zeros(C * P)
    flat = pt.set_subtensor(flat[ic], a)
    flat = pt.set_subtensor(flat[inc], mean[inc] + sd[inc] * z)
    return pm.Deterministic(f"theta_{CONDITION}", flat.reshape((C, P)), dims=(CONDITION, PARAM))


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
    import pymc as pm
    import pytensor.tensor as pt

    shift = pt.zeros((len(data.cell_count), len(data.measures)))
    if data.coefs:
        gamma = pm.Normal("gamma_location", 0.0, spec.prompt.coef_sd, dims=(COEF, MEASURE))
        shift = shift + D["cell_x"] @ gamma
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        u = pm.Deterministic("u_location", question_effect(spec, MEASURE), dims=(PROMPT, MEASURE))
        shift = shift + u[D["cell_prompt"]]
    return shift


def _logtable(data: ModelData, measure: str, loc, spread, noscore):
    """log P(category) per cell (cells, 1 + B): no score first, then the mass of each bin."""
    import pytensor.tensor as pt

    bins = _bins_pt(data, measure, loc[:, None], spread[:, None])
    return pt.concatenate([pt.log(noscore)[:, None], pt.log1p(-noscore)[:, None] + pt.log(bins)], axis=1)


def build_degradation(spec: ModelSpec, data: ModelData, *, rows: bool = False):
    """The PyMC model of the degradation spec (the module docstring's equations) on ``data``.

    One ``pm.Potential("loglik")``: sum over patterns of count * log P(pattern). ``rows`` is accepted for the
    interface of :func:`~simstats.builders.build_model` only: this likelihood has no fused kernel to check, its
    pattern sum is plain PyTensor.
    """
    import pymc as pm
    import pytensor.tensor as pt

    prior = param_table(data)
    coords = {**data.coords, PARAM: prior["label"].tolist(), MEASURE: data.measures}
    with pm.Model(coords=coords) as model:
        D = {n: pm.Data(n, v) for n, v in data_arrays(data).items()}
        theta = _pooled_theta(spec, data, prior)                              # (C, P)
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
    """P(category) of ``measure`` in every cell and draw: (chain, draw, cell, 1 + B), no score first."""
    theta = np.asarray(posterior["theta_condition"])[..., data.cell_condition, :]           # (…, cells, P)
    j = data.measures.index(measure)
    loc = theta[..., _column(data, measure, "location")]
    if "gamma_location" in posterior:
        loc = loc + np.einsum("nf,...f->...n", data.cell_x, np.asarray(posterior["gamma_location"])[..., j])
    if "u_location" in posterior:
        loc = loc + np.asarray(posterior["u_location"])[..., data.cell_prompt, j]
    s = special.expit(theta[..., _column(data, measure, "no_score")])[..., None]
    bins = _bins_np(data, measure, loc, theta[..., _column(data, measure, "spread")])
    return np.concatenate([s, (1 - s) * bins], axis=-1)


def verdict_probs(posterior, data: ModelData) -> np.ndarray:
    """P(verdict | condition): (chain, draw, condition, V) in ``data.verdict_levels`` order."""
    lg = _verdict_logits(np.asarray(posterior["theta_condition"]), data, np)
    return special.softmax(lg, axis=-1)


def pattern_log_likelihood(posterior, data: ModelData) -> np.ndarray:
    """Log-likelihood of ONE answer of each pattern for every draw: (chain, draw, pattern)."""
    out = 0.0
    for m, cat in data.pattern_cat.items():
        out = out + np.log(cell_tables(posterior, data, m)[..., data.pattern_cell, cat])
    if data.pattern_verdict is not None:
        out = out + np.log(verdict_probs(posterior, data)[..., data.pattern_condition, data.pattern_verdict])
    return out


def condition_draws(posterior, data: ModelData, measure: str) -> dict[str, np.ndarray]:
    """Per condition (at the reference prompt features and the average question): ``mean`` and ``sd`` of the
    score on the data's scale given a score, and the ``no_score`` rate; each (chain, draw, condition)."""
    theta = np.asarray(posterior["theta_condition"])
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


def initial_point(spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
    """Start values of every free variable of :func:`build_degradation`: each condition at its empirical moments,
    the prompt terms at 0."""
    theta = _empirical_theta(data)
    init: dict[str, np.ndarray] = {}
    resid = theta
    if data.condition_coefs:
        X = np.concatenate([np.ones((len(theta), 1)), data.condition_x], axis=1)
        coef = np.linalg.lstsq(X, theta, rcond=None)[0]
        init["theta_beta"] = coef[1:]
        resid = theta - data.condition_x @ coef[1:]
    mu = resid.mean(0)
    var = np.stack([np.full(len(mu), 0.09)] * len(data.levels) + [np.maximum(resid.std(0), 0.2) ** 2])
    init["theta_mu"] = mu
    for i, (lev, groups) in enumerate(zip(data.levels, data.free_groups)):
        init[f"theta_sigma_{lev}"] = np.full(len(mu), 0.3)
        if groups:
            init[f"theta_z_{lev}"] = np.zeros((len(groups), len(mu)))
    init["theta_sigma_condition"] = np.sqrt(var[-1])
    mask = centred_mask(spec, data)
    z = (resid - mu) / np.sqrt(data.condition_scale @ var)
    if mask.all():
        init["theta_condition"] = theta
    elif not mask.any():
        init["theta_z_condition"] = z
    else:
        init["theta_condition_centred"] = theta[mask]          # row-major, as the model's flat index
        init["theta_z_condition"] = z[~mask]
    M = len(data.measures)
    if data.coefs:
        init["gamma_location"] = np.zeros((len(data.coefs), M))
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        init["sigma_question"] = np.full(M, 0.3)
        init["u_raw"] = np.zeros((M, len(data.prompts)))
    return init


# ------------------------------------------------------------------------------------------------ simulation
def draw_parameters(spec: ModelSpec, data: ModelData, rng: np.random.Generator) -> dict:
    """Every parameter drawn from the priors, in the JSON layout of a truth file (labels as in the model)."""
    prior = param_table(data)
    labels, C, P = prior["label"].tolist(), len(data.conditions), len(prior)

    def named(rows: list[str], arr: np.ndarray, cols: list[str]) -> dict:
        return {r: {c: float(v) for c, v in zip(cols, arr[i])} for i, r in enumerate(rows)}

    mu = rng.normal(prior["mean"].to_numpy(), prior["sd"].to_numpy())
    levs = [*data.levels, CONDITION]
    sd = {lev: np.abs(rng.normal(0.0, spec.hierarchy.sigma, P)) for lev in levs}
    theta = np.broadcast_to(mu, (C, P)).copy()
    for i, lev in enumerate(data.levels):
        eff = sd[lev] * rng.normal(size=(len(data.level_groups[i]), P))
        theta = theta + eff[data.level_index[i]]
    beta = rng.normal(0.0, spec.conditions.coef_sd, (len(data.condition_coefs), P))
    theta = theta + data.condition_x @ beta + sd[CONDITION] * rng.normal(size=(C, P))
    M, Q = data.measures, len(data.prompts)
    gamma = rng.normal(0.0, spec.prompt.coef_sd, (len(data.coefs), len(M)))
    u = np.zeros((Q, len(M)))
    sq = None
    if spec.prompt.question_effect != "none" and Q > 1:
        sq = np.abs(rng.normal(0.0, spec.prompt.question_sigma, len(M)))
        raw = rng.normal(size=(Q, len(M)))
        if spec.prompt.question_effect == "zerosum":
            raw = raw - raw.mean(0, keepdims=True)
        u = sq * raw
    return {"theta_mu": dict(zip(labels, map(float, mu))),
            "theta_sigma": {lev: dict(zip(labels, map(float, sd[lev]))) for lev in levs},
            "theta_beta": named(data.condition_coefs, beta, labels),
            "theta_condition": named(data.conditions, theta, labels),
            "gamma_location": named(data.coefs, gamma, M),
            "sigma_question": None if sq is None else dict(zip(M, map(float, sq))),
            "u_location": named(data.prompts, u, M)}


def truth_arrays(P: dict, data: ModelData) -> dict[str, np.ndarray]:
    """The truth's ``theta``, ``gamma_location`` and ``u_location`` as one-draw posterior arrays (1, 1, ...)."""
    labels = param_table(data)["label"].tolist()

    def table(d: dict, rows: list[str], cols: list[str]) -> np.ndarray:
        return np.array([[float(d[r][c]) for c in cols] for r in rows], dtype=float).reshape(len(rows), len(cols))

    return {"theta_condition": table(P["theta_condition"], data.conditions, labels)[None, None],
            "gamma_location": table(P["gamma_location"], data.coefs, data.measures)[None, None],
            "u_location": table(P["u_location"], data.prompts, data.measures)[None, None]}


__all__ = ["MEASURE", "MEASURE_PARAMS", "MIN_PINNING_ANSWERS", "PARAM", "SHAPES", "build_degradation", "cell_tables",
           "centred_mask", "condition_draws",
           "draw_parameters", "initial_point", "param_table", "pattern_log_likelihood", "shape", "truth_arrays",
           "verdict_probs", "verdict_reference"]
