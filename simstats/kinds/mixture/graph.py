"""The PyMC graph of the persona mixture on pattern counts (DESIGN §2)::

    eta[c]        = mu + hierarchy effects + x_c . beta + condition effect    (persona log-odds of checkpoint c)
    log w[cell]   = log P(z | c, q) = log_softmax(eta[c] + x(q) . gamma + xi(c, q) . gamma_interaction + u[q])
    log L         = sum_patterns count * log sum_k w[cell, k] * prod_m fp_m[k, y_m]

(``eta[:, 0] = 0``: the first persona is the reference.) The prompt is evidence: ``x(q) . gamma + ... + u[q]`` is
the log-likelihood ratio the context carries for each persona (:func:`simstats.theory.formalism.context_evidence`)
and the log weights are Bayes' rule over personas (:func:`~simstats.theory.formalism.persona_log_posterior`). The
marginal likelihood runs in one fused kernel (:mod:`simstats.graph.kernel`); ``rows=True`` writes it per answer
with :func:`~simstats.theory.formalism.marginal_log_likelihood` instead, the reference the kernel is checked
against.

``xi(c, q)`` is the 0/1 design of ``[prompt] interactions`` (a trigger whose effect differs by a condition column).
Fingerprints ``fp_m[k, :]`` come from each measure's family (:mod:`simstats.families.fingerprints`); with
``[fingerprints] vary = "condition"`` each condition's fingerprint varies around the shared one::

    log fpc_m[c, k, :] = log_softmax(log fp_m[k, :] + sd_m * z_m[c, k, :]),   sd_m ~ HalfNormal(sigma)
"""

from __future__ import annotations

import numpy as np

from simstats.families.fingerprints import FAMILIES, category_labels, fixed_table, transfer_alpha
from simstats.graph.design import ModelData, data_arrays
from simstats.graph.hierarchy import HierarchyNames, HierarchyTerm
from simstats.graph.kernel import pattern_mixture_loglik
from simstats.graph.names import COEF, CONDITION, INTERACTION, PERSONA, PERSONA_FREE, category_dim
from simstats.graph.terms import Coefficients, ConditionEffects, QuestionEffect
from simstats.spec import ModelSpec
from simstats.theory import formalism

#: every variable name of the persona mixture's log-odds, in one place
HIERARCHY = HierarchyNames(mu="logodds_mu", sigma="sigma_{level}", group_centred="eta_{level}", group_z="z_{level}",
                           beta="beta_condition", condition_centred="eta_condition", condition_z="z_condition",
                           part_centred="eta_condition_centred", part_z="z_condition_noncentred")
EFFECTS = ConditionEffects(beta="beta_condition")
FEATURES = Coefficients("gamma_free", "gamma", COEF)
INTERACTIONS = Coefficients("gamma_interaction_free", "gamma_interaction", INTERACTION)
QUESTION = QuestionEffect("u", reference=True)
ETA = "eta"
FINGERPRINT = "fp_{measure}"
CONDITION_FINGERPRINT = "fpc_{measure}"
VERDICT_FINGERPRINT = "fp_verdict"
#: ``hierarchy.parametrization`` -> the condition level's form (the levels above it are centred only for "centred")
CONDITION_FORM = {"centred": "centred", "mixed": "centred", "noncentred": "noncentred", "adaptive": "masked"}


def hierarchy_term(spec: ModelSpec, data: ModelData, centring: np.ndarray | None = None) -> HierarchyTerm:
    """The condition hierarchy of the non-reference personas' log-odds."""
    h = spec.hierarchy
    free = spec.personas[1:]
    return HierarchyTerm(HIERARCHY, data, param_dim=PERSONA_FREE, size=len(free),
                         mu_prior=(np.array([p.logodds[0] for p in free]), np.array([p.logodds[1] for p in free])),
                         sigma=h.sigma, upper_centred=h.parametrization == "centred", structure=h.structure,
                         condition_form=CONDITION_FORM[h.parametrization], mask=centring, variance=h.variance)


def verdict_alpha(spec: ModelSpec, levels: list[str]) -> np.ndarray:
    """Dirichlet parameters (K, V) of the verdict fingerprints: 1 + strength x each persona's declared verdict
    probabilities (the rest shared equally among the levels it does not declare)."""
    rows = []
    for p in spec.personas:
        known = {k: v for k, v in p.verdicts.items() if k in levels}
        rest = [lv for lv in levels if lv not in known]
        left = max(0.0, 1.0 - sum(known.values()))
        prof = np.array([known.get(lv, left / len(rest) if rest else 0.0) for lv in levels])
        rows.append(1.0 + spec.verdict_strength * prof)
    return np.stack(rows)


def persona_log_weights(spec: ModelSpec, data: ModelData, D: dict, centring: np.ndarray | None = None):
    """log P(persona | cell), (cells, K): the condition hierarchy with condition effects (``eta``), then the
    evidence of the prompt. With one persona there is nothing to model: ``eta`` is a constant 0."""
    import pymc as pm
    import pytensor.tensor as pt

    C = len(data.conditions)
    if len(data.personas) == 1:
        eta = pm.Deterministic(ETA, pt.zeros((C, 1)), dims=(CONDITION, PERSONA))
        return formalism.persona_log_posterior(eta[D["cell_condition"]], 0.0, axis=1)
    h = hierarchy_term(spec, data, centring)
    mean, var = h.build_upper()
    effects = EFFECTS.build(data, spec.conditions.coef_sd, PERSONA_FREE)
    if effects is not None:                      # fine-tuning moves the prior over personas
        mean = mean + effects
    eta_free = h.build_condition(mean, var)
    eta = pm.Deterministic(ETA, pt.concatenate([pt.zeros((C, 1)), eta_free], axis=1), dims=(CONDITION, PERSONA))
    xs, gs = [], []
    if data.coefs:
        xs.append(D["cell_x"])
        gs.append(FEATURES.build(spec.prompt.coef_sd, PERSONA_FREE, PERSONA))
    if data.interaction_coefs:                   # a feature's effect per value of a condition column (triggers)
        xs.append(D["cell_xi"])
        gs.append(INTERACTIONS.build(data.interaction_sd[:, None], PERSONA_FREE, PERSONA))
    u = QUESTION.build(spec, PERSONA_FREE, PERSONA) if QUESTION.active(spec, data) else None
    evidence = formalism.context_evidence(xs, gs, None if u is None else u[D["cell_prompt"]])
    return formalism.persona_log_posterior(eta[D["cell_condition"]], evidence, axis=1)


def _check_transfer(spec: ModelSpec, measure: str, tr: dict | None, n_categories: int) -> None:
    if tr is not None and len(tr["table"][0]) != n_categories:
        from simstats.errors import SpecError

        raise SpecError(f"{spec.source}: fingerprints.transfer.{measure} has {len(tr['table'][0])} categories, but "
                        f"the data's {measure} has {n_categories}: the fingerprints were learned on another grid")


def measure_fingerprint(spec: ModelSpec, data: ModelData, ms):
    """The fingerprint table (K, categories) of measure ``ms``: its family's anchored prior, an earlier fit's
    posterior as the prior, or that posterior's mean held fixed (``[fingerprints] transfer``)."""
    grid = data.patterns.grids[ms.name]
    tr = spec.fingerprints.transfer.get(ms.name)
    _check_transfer(spec, ms.name, tr, len(category_labels(grid)))
    if tr is not None and tr["mode"] == "fixed":
        return fixed_table(FINGERPRINT.format(measure=ms.name), tr, PERSONA, category_dim(ms.name))
    anchors = [p.anchors[ms.name] for p in spec.personas]
    return FAMILIES[ms.likelihood].build(ms.name, grid, anchors, spec.anchor_strength, PERSONA,
                                         category_dim(ms.name), transfer=tr)


def emission_logprobs(spec: ModelSpec, data: ModelData, D: dict):
    """log prod_m fp_m[k, y_m] of every emission unit, (units, K), and the name of the pattern -> unit index.

    Shared fingerprints: a unit is a unique emission pattern (``pattern_emission``); condition-specific ones: a
    unique (condition, emission) pair (``pattern_ce``), see the module docstring."""
    import pymc as pm
    import pytensor.tensor as pt

    vary = data.fingerprint_vary == "condition"
    cat = "ce_cat_" if vary else "emission_cat_"
    logf = 0.0                                                          # (units, K)
    for ms in spec.measures:
        fp = measure_fingerprint(spec, data, ms)
        if vary:
            dims = (CONDITION, PERSONA, category_dim(ms.name))
            name = CONDITION_FINGERPRINT.format(measure=ms.name)
            sd = pm.HalfNormal(f"{name}_sd", spec.fingerprints.sigma)
            z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
            lg = pt.log(fp)[None] + sd * z
            lg = lg - pt.logsumexp(lg, axis=-1, keepdims=True)                 # (C, K, categories)
            pm.Deterministic(name, pt.exp(lg), dims=dims)
            logf = logf + lg.dimshuffle(0, 2, 1)[D["ce_condition"], D[f"{cat}{ms.name}"]]
        else:
            logf = logf + pt.log(fp).T[D[f"{cat}{ms.name}"]]
    if data.verdict_levels is not None:
        tr = spec.fingerprints.transfer.get("verdict")
        _check_transfer(spec, "verdict", tr, len(data.verdict_levels))
        if tr is not None and tr["mode"] == "fixed":
            fv = fixed_table(VERDICT_FINGERPRINT, tr, PERSONA, "verdict")
        else:
            alpha = verdict_alpha(spec, data.verdict_levels) if tr is None else transfer_alpha(tr)
            fv = pm.Dirichlet(VERDICT_FINGERPRINT, a=alpha, dims=(PERSONA, "verdict"))
        logf = logf + pt.log(fv).T[D[f"{cat}verdict"]]
    return logf, ("pattern_ce" if vary else "pattern_emission")


def build(spec: ModelSpec, data: ModelData, *, centring: np.ndarray | None = None, rows: bool = False):
    """The PyMC model (see the module docstring).

    Free variables: ``logodds_mu`` (persona_free), ``sigma_<level>`` per hierarchy level and ``sigma_condition``,
    ``eta_<level>`` / ``eta_condition`` (centred) or ``z_<level>`` / ``z_condition`` (non-centred) over the groups
    that have an effect of their own, ``beta_condition`` (condition_coef, persona_free) and
    ``changepoint_<effect>`` with condition effects, ``gamma_free`` (coef, persona_free), ``gamma_interaction_free``
    (interaction, persona_free), ``sigma_question`` / ``u_raw`` (persona_free, prompt), and the fingerprint
    variables of each measure's family. Deterministics with full persona axes: ``eta`` (condition, persona),
    ``gamma``, ``gamma_interaction``, ``u`` (prompt, persona), ``fp_<measure>`` (persona, <measure>_bin) and
    ``fp_verdict`` when verdicts exist. ``centring`` (C, K - 1) chooses the centred condition-level elements under
    ``parametrization = "adaptive"``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords=data.coords) as model:
        # Index arrays enter as data (shared variables), not constants: compiled functions then hold no data and
        # the on-disk numba cache serves any data set with the same model structure.
        D = {n: pm.Data(n, v) for n, v in data_arrays(data).items()}
        logw = persona_log_weights(spec, data, D, centring)               # (cells, K)
        logf, unit = emission_logprobs(spec, data, D)
        if rows:
            row_cell = np.repeat(data.pattern_cell, data.count)
            row_unit = np.repeat(getattr(data, unit), data.count)
            pm.Potential("loglik", pt.sum(formalism.marginal_log_likelihood(logw[row_cell], logf[row_unit])))
        else:
            pm.Potential("loglik", pattern_mixture_loglik(logw, logf, D["pattern_cell"], D[unit], D["count"]))
    return model


__all__ = ["CONDITION_FINGERPRINT", "CONDITION_FORM", "EFFECTS", "ETA", "FEATURES", "FINGERPRINT", "HIERARCHY",
           "INTERACTIONS", "QUESTION", "VERDICT_FINGERPRINT", "build", "emission_logprobs", "hierarchy_term",
           "measure_fingerprint",
           "persona_log_weights", "verdict_alpha"]
