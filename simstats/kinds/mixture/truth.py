"""The persona mixture's true parameters in the JSON layout of a simulation's truth file, from a draw of the model's
prior, and back to arrays keyed as the posterior's variables.

Layout (persona -> value tables, with the names the fitted model uses): ``logodds_mu``, ``sigma`` (level ->
persona), ``sigma_total`` and ``variance_share`` (decomposed variance), ``groups`` (level -> free group -> persona:
the group's log-odds, nested, or its offset, crossed), ``beta_condition`` and ``condition_x`` (with
``changepoint``: each change-point effect's location on the rescaled dose), ``eta`` (condition -> persona),
``gamma``, ``gamma_interaction`` (with ``prompt.interactions``), ``sigma_question``, ``u`` (prompt -> persona),
``fingerprints`` (measure -> persona -> category probabilities) and ``fingerprints_condition`` when fingerprints
vary by condition.
"""

from __future__ import annotations

import numpy as np

from simstats.errors import SimstatsError
from simstats.graph.design import ModelData
import simstats.kinds.mixture.graph as G
from simstats.spec import ModelSpec


def _named(names: list[str], values) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, np.ravel(values))}


def _rows(rows: list[str], cols: list[str], arr) -> dict[str, dict[str, float]]:
    arr = np.asarray(arr, float).reshape(len(rows), len(cols))
    return {r: _named(cols, arr[i]) for i, r in enumerate(rows)}


def truth(draw: dict[str, np.ndarray], spec: ModelSpec, data: ModelData) -> dict:
    """The truth layout (module docstring) of one prior draw of the model (variable -> array)."""
    names, free, K = spec.persona_names, spec.persona_names[1:], len(spec.personas)
    C, Q = len(data.conditions), len(data.prompts)
    P: dict = {}
    levels = [*data.levels, "condition"]
    if K == 1:              # no log-odds to model: the layout keeps its keys, empty
        P.update(logodds_mu={}, sigma={lev: {} for lev in levels}, groups={}, beta_condition={}, condition_x={})
    else:
        h = G.hierarchy_term(spec, data)
        P["logodds_mu"] = _named(free, draw[G.HIERARCHY.mu])
        if h.decomposed:
            P["sigma_total"] = _named(free, draw[G.HIERARCHY.total])
            P["variance_share"] = {p: _named(levels, draw[G.HIERARCHY.share][j]) for j, p in enumerate(free)}
        P["sigma"] = {lev: _named(free, draw[G.HIERARCHY.level(G.HIERARCHY.sigma, lev)]) for lev in levels}
        P["groups"] = {lev: _rows(groups, free, h.group_values(draw)[lev])
                       for lev, groups in zip(data.levels, data.free_groups) if groups}
        beta = draw.get(G.EFFECTS.beta, np.zeros((0, K - 1)))
        P["beta_condition"] = _rows(data.condition_coefs, free, beta)
        if data.condition_steps:
            P["changepoint"] = {n: float(draw[G.EFFECTS.changepoint_name(n)]) for n in data.condition_steps}
        cx = G.EFFECTS.columns(data, draw)
        P["condition_x"] = {n: _named(data.conditions, cx[:, j]) for j, n in enumerate(data.condition_coefs)}
    P["eta"] = _rows(data.conditions, names, draw[G.ETA])
    P["gamma"] = _rows(data.coefs, names, draw.get(G.FEATURES.full, np.zeros((len(data.coefs), K))))
    if data.interaction_coefs:
        P["gamma_interaction"] = _rows(data.interaction_coefs, names, draw[G.INTERACTIONS.full])
    active = G.QUESTION.active(spec, data) and K > 1
    P["sigma_question"] = _named(free, draw[G.QUESTION.sigma]) if active else None
    P["u"] = _rows(data.prompts, names, draw[G.QUESTION.value] if active else np.zeros((Q, K)))
    P["fingerprints"] = {m: {p: [float(x) for x in np.asarray(draw[G.FINGERPRINT.format(measure=m)])[k]]
                             for k, p in enumerate(names)} for m in spec.measure_names}
    if data.fingerprint_vary == "condition":
        P["fingerprints_condition"] = {"sd": {}}
        for m in spec.measure_names:
            name = G.CONDITION_FINGERPRINT.format(measure=m)
            P["fingerprints_condition"]["sd"][m] = float(draw[f"{name}_sd"])
            fpc = np.asarray(draw[name]).reshape(C, K, -1)
            P["fingerprints_condition"][m] = {c: {p: [float(x) for x in fpc[j, k]] for k, p in enumerate(names)}
                                              for j, c in enumerate(data.conditions)}
    return P


def _table(d: dict, rows: list[str], cols: list[str], what: str) -> np.ndarray:
    if sorted(d) != sorted(rows):
        have, want = sorted(d), sorted(rows)
        raise SimstatsError(f"the truth's {what} are {have[:6]}{' ...' if len(have) > 6 else ''} but the design has "
                            f"{want[:6]}{' ...' if len(want) > 6 else ''}; simulate with the truth's own design")
    return np.array([[float(d[r][c]) for c in cols] for r in rows], dtype=float).reshape(len(rows), len(cols))


def truth_arrays(P: dict, spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
    """``eta``, ``gamma``, ``gamma_interaction``, ``u``, every ``fp_<measure>`` and (varying fingerprints)
    ``fpc_<measure>`` of a truth layout, as arrays in the model's order (one draw, no leading axes)."""
    names = spec.persona_names
    out = {G.ETA: _table(P["eta"], data.conditions, names, "conditions"),
           G.FEATURES.full: _table(P["gamma"], data.coefs, names, "feature coefficients"),
           G.QUESTION.value: _table(P["u"], data.prompts, names, "questions")}
    inter = P.get("gamma_interaction", {})
    if sorted(inter) != sorted(data.interaction_coefs):
        raise SimstatsError(f"the truth's feature x condition interactions are {sorted(inter)} but the spec and "
                            f"design have {sorted(data.interaction_coefs)}; simulate with the truth's own spec and "
                            "design")
    out[G.INTERACTIONS.full] = _table(inter, data.interaction_coefs, names, "interactions")
    for m in spec.measure_names:
        fp = np.array([P["fingerprints"][m][p] for p in names], dtype=float)
        if fp.ndim != 2 or (fp < 0).any() or not np.allclose(fp.sum(1), 1.0, atol=1e-9):
            raise SimstatsError(f"the truth's fingerprint of {m!r} is not a probability table (one row per persona)")
        out[G.FINGERPRINT.format(measure=m)] = fp / fp.sum(1, keepdims=True)
        if "fingerprints_condition" in P:
            d = P["fingerprints_condition"][m]
            fpc = np.array([[d[c][p] for p in names] for c in data.conditions], dtype=float)
            out[G.CONDITION_FINGERPRINT.format(measure=m)] = fpc
    return out


__all__ = ["truth", "truth_arrays"]
