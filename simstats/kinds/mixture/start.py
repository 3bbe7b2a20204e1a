"""Start values of the persona mixture: the maximum a posteriori of a simpler mixture found by EM on the pattern
counts (fingerprints plus free persona weights per cell, shrunk towards the condition's), mapped onto the model's
parameters by each term.

EM starts from the anchors' prior means, so the labels of the start are the spec's names. Fingerprints and the
question effect's raw values are never jittered across chains (jitter rule ``none``), so chains cannot start in
different labellings; the label-switching check still verifies that they did not end up in one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simstats.families.fingerprints import FAMILIES, anchor_table, transfer_alpha, transfer_table
from simstats.graph.design import ModelData
from simstats.kinds.base import Start
import simstats.kinds.mixture.graph as G
from simstats.spec import ModelSpec


@dataclass(frozen=True)
class EMResult:
    """MAP of the simpler mixture used to start the samplers."""

    fingerprints: dict[str, np.ndarray]   # measure (or "verdict") -> (K, n_categories)
    cell_weights: np.ndarray              # (n_cells, K)
    loglik: float
    n_iter: int


def anchor_tables(spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
    """The prior mean fingerprint table (K, categories) of every ``fp_*`` variable, from the spec's anchors."""
    tabs = {G.FINGERPRINT.format(measure=ms.name): FAMILIES[ms.likelihood].prior_table(
        data.patterns.grids[ms.name], [p.anchors[ms.name] for p in spec.personas], spec.anchor_strength)
        for ms in spec.measures}
    if data.verdict_levels is not None:
        a = G.verdict_alpha(spec, data.verdict_levels)
        tabs[G.VERDICT_FINGERPRINT] = a / a.sum(1, keepdims=True)
    return tabs


def em_start(spec: ModelSpec, data: ModelData, max_iter: int = 500, tol: float = 1e-8,
             shrink: float = 10.0) -> EMResult:
    """EM for fingerprints and per-cell persona weights (shrunk by ``shrink`` pseudo-answers to the condition's).

    The fingerprint M-step is the MAP under the spec's Dirichlet anchors, so EM starts in (and keeps) the
    labelling of the anchors.
    """
    K = len(data.personas)
    fps = {name[3:]: tab for name, tab in anchor_tables(spec, data).items()}   # start at the anchors' prior means
    prior_extra = {ms.name: spec.anchor_strength * anchor_table(
        data.patterns.grids[ms.name], [p.anchors[ms.name] for p in spec.personas]) for ms in spec.measures}
    cats = data.category_cols()
    if data.pattern_verdict is not None:
        prior_extra["verdict"] = G.verdict_alpha(spec, data.verdict_levels) - 1.0
    fixed = set()
    for m, tr in spec.fingerprints.transfer.items():   # an earlier fit's fingerprints: start there, as its prior
        if m in fps:
            fps[m] = transfer_table(tr)
            prior_extra[m] = transfer_alpha(tr) - 1.0
            if tr["mode"] == "fixed":
                fixed.add(m)
    n_cells, C = len(data.cell_count), len(data.conditions)
    w = np.full((n_cells, K), 1.0 / K)
    cnt = data.count.astype(float)
    prev = -np.inf
    it = 0
    ll = prev
    for it in range(1, max_iter + 1):
        logp = np.log(w[data.pattern_cell])
        for m, cat in cats.items():
            logp = logp + np.log(fps[m].T[cat])
        mx = logp.max(1, keepdims=True)
        lik = np.exp(logp - mx)
        tot = lik.sum(1, keepdims=True)
        r = lik / tot
        ll = float((cnt * (mx[:, 0] + np.log(tot[:, 0]))).sum())
        rc = r * cnt[:, None]
        for m, cat in cats.items():
            if m in fixed:
                continue
            acc = np.zeros_like(fps[m])
            np.add.at(acc.T, cat, rc)
            acc += prior_extra[m]
            fps[m] = acc / acc.sum(1, keepdims=True)
        nk = np.zeros((n_cells, K))
        np.add.at(nk, data.pattern_cell, rc)
        cond = np.zeros((C, K))
        np.add.at(cond, data.cell_condition, nk)
        cond = (cond + 0.5) / (cond + 0.5).sum(1, keepdims=True)
        w = (nk + shrink * cond[data.cell_condition]) / (nk.sum(1, keepdims=True) + shrink)
        if abs(ll - prev) < tol * abs(ll):
            break
        prev = ll
    return EMResult(fps, w, ll, it)


def em_condition_counts(em: EMResult, data: ModelData) -> np.ndarray:
    """(C, K): the EM start's expected number of answers of each persona per condition."""
    out = np.zeros((len(data.conditions), em.cell_weights.shape[1]))
    np.add.at(out, data.cell_condition, em.cell_weights * data.cell_count[:, None])
    return out


def adaptive_centring(expected_counts: np.ndarray, min_count: float = 10.0) -> np.ndarray:
    """(C, K - 1) mask of the condition-level log-odds to centre under ``parametrization = "adaptive"``.

    ``expected_counts`` (C, K): answers of each persona per condition (e.g. from the EM start). A centred
    ``eta ~ Normal(mean, sd)`` samples well when the data pin ``eta`` (its likelihood sd ~ 1/sqrt(n p) is below the
    prior sd); where a persona is (nearly) absent from a condition the data only bound ``eta`` from above, and the
    centred form makes a funnel with the condition-level sd. Those elements are non-centred.
    """
    return np.asarray(expected_counts)[:, 1:] >= min_count


def _solve_logits(data: ModelData, lw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of cell log-odds on condition + features (and feature x condition-column
    interactions) + (centred) question: eta, gamma (the interactions' rows after the features'), u."""
    C, Q = len(data.conditions), len(data.prompts)
    x = data.cell_x if not data.interaction_coefs else np.concatenate([data.cell_x, data.cell_xi], axis=1)
    F = x.shape[1]
    n = len(data.cell_count)
    X = np.zeros((n, C + F + Q))
    X[np.arange(n), data.cell_condition] = 1
    X[:, C:C + F] = x
    X[np.arange(n), C + F + data.cell_prompt] = 1
    X[:, C + F:] -= 1.0 / Q                     # zero-sum coding of the question effect
    sw = np.sqrt(data.cell_count.astype(float))[:, None]
    coef, *_ = np.linalg.lstsq(X * sw, lw * sw, rcond=None)
    eta, gamma, u = coef[:C], coef[C:C + F], coef[C + F:]
    return eta, gamma, u - u.mean(0, keepdims=True)


def _logodds_start(spec: ModelSpec, data: ModelData, em: EMResult, centring: np.ndarray | None
                   ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Start values and jitter rules of the persona log-odds variables from EM's weights, term by term."""
    w = np.clip(em.cell_weights, 1e-6, None)
    lw = np.clip(np.log(w[:, 1:]) - np.log(w[:, :1]), -12, 12)
    eta, gamma, u = _solve_logits(data, lw)
    init, jitter, effects = G.EFFECTS.start(data, eta)
    h_init, h_jitter = G.hierarchy_term(spec, data, centring).start(eta, effects)
    init.update(h_init)
    jitter.update(h_jitter)
    if data.coefs:
        init[G.FEATURES.free] = gamma[:len(data.coefs)]
    if data.interaction_coefs:
        init[G.INTERACTIONS.free] = np.clip(gamma[len(data.coefs):], -12, 12)
    if G.QUESTION.active(spec, data):
        q_init, q_jitter = G.QUESTION.start(u, u.shape[1], len(data.prompts))
        init.update(q_init)
        jitter.update(q_jitter)
    return init, jitter


def start(spec: ModelSpec, data: ModelData, *, em_iter: int = 500, centring: np.ndarray | None = None) -> Start:
    """Every free variable's start from EM, the jitter rules, and (``parametrization = "adaptive"``) the centred
    condition-level elements: those where EM expects at least 10 answers of the persona (``centring`` imposes
    another choice).

    One persona: only the fingerprints are free. Condition-specific fingerprints start at the shared ones
    (``z = 0``, a small ``sd``)."""
    em = em_start(spec, data, max_iter=em_iter)
    if centring is None and spec.hierarchy.parametrization == "adaptive" and len(data.personas) > 1:
        centring = adaptive_centring(em_condition_counts(em, data))
    init: dict[str, np.ndarray] = {}
    jitter: dict[str, str] = {}
    if len(data.personas) > 1:
        init, jitter = _logodds_start(spec, data, em, centring)
    transfer = spec.fingerprints.transfer
    for ms in spec.measures:
        values = {} if transfer.get(ms.name, {}).get("mode") == "fixed" else FAMILIES[ms.likelihood].initial_values(
            ms.name, data.patterns.grids[ms.name], em.fingerprints[ms.name])   # fixed: held, nothing free
        init.update(values)
        jitter.update({k: "none" for k in values})
        if data.fingerprint_vary == "condition":
            name = G.CONDITION_FINGERPRINT.format(measure=ms.name)
            init[f"{name}_sd"] = np.array(0.1)
            init[f"{name}_z"] = np.zeros((len(data.conditions), *em.fingerprints[ms.name].shape))
            jitter[f"{name}_sd"] = "log"
    if "verdict" in em.fingerprints and transfer.get("verdict", {}).get("mode") != "fixed":
        fv = np.clip(em.fingerprints["verdict"], 1e-4, None)
        init[G.VERDICT_FINGERPRINT] = fv / fv.sum(1, keepdims=True)
        jitter[G.VERDICT_FINGERPRINT] = "none"
    return Start(init, jitter, centring, em)


__all__ = ["EMResult", "adaptive_centring", "anchor_tables", "em_condition_counts", "em_start", "start"]
