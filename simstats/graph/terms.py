"""The terms of a model's log-odds (or location) besides the hierarchy: condition effects, prompt features, feature
x condition interactions and the per-question effect. Each term builds its part of the PyMC graph, gives its start
values and jitter rules, and evaluates itself on draws; each owns the names of its variables. The design functions
here turn a pattern table into the 0/1 and numeric columns the terms multiply.

Condition effects on the condition mean, ``x_c . beta``: a change-point column is ``sigmoid((r_c - tau) / width)``
of the dose ``r_c`` rescaled to [0, 1] with a free location ``tau`` (``changepoint_<effect>``); a smooth effect is an
orthonormal polynomial basis of the dose. Prompt evidence: ``x(q) . gamma`` for prompt features, ``xi(c, q) .
gamma_interaction`` for a feature whose effect differs by a condition column (a trigger), and ``u[q]``, a per-question
effect ``sigma_question * u_raw`` (zero-sum over questions or independent Normal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simstats.errors import SpecError
from simstats.graph.names import CONDITION_COEF, PROMPT
from simstats.spec import ModelSpec

# ------------------------------------------------------------------------------------------------------ designs

def reference_level(values: pd.Series, counts: pd.Series, wanted: str | None, feature: str, src: str) -> str:
    levels = sorted(values.unique().tolist())
    if wanted is not None:
        if wanted not in levels:
            raise SpecError(f"{src}: prompt.reference.{feature} = {wanted!r} is not a level of the data ({levels})")
        return wanted
    tot = counts.groupby(values).sum()
    return sorted(levels, key=lambda v: (-tot[v], v))[0]


def smooth_basis(x: np.ndarray, degree: int) -> np.ndarray:
    """(C, degree) orthonormal polynomial basis of ``x`` over the conditions, scaled to unit mean square:
    the QR of the centred Vandermonde ``[z, z^2, ..., z^degree]`` (``z`` standardised), so the coefficients are
    nearly independent a priori and in the posterior."""
    z = (x - x.mean()) / x.std()
    V = np.stack([z ** j for j in range(1, degree + 1)], axis=1)
    q, r = np.linalg.qr(V - V.mean(0))
    q = q * np.sign(np.diag(r))[None, :]           # the first column increases with x, like the linear effect
    return q * np.sqrt(len(x))


def _numeric_column(spec: ModelSpec, name: str, e, v: pd.Series) -> np.ndarray:
    x = pd.to_numeric(v, errors="coerce").to_numpy(float)
    if np.isnan(x).any():
        bad = v[np.isnan(x)].astype(str).unique()[:3].tolist()
        raise SpecError(f"{spec.source}: conditions.effects.{name}: column {e.column!r} is numeric but "
                        f"has values {bad}")
    if getattr(e, "transform", None) == "log":
        if (x <= 0).any():
            bad = v[x <= 0].astype(str).unique()[:3].tolist()
            raise SpecError(f"{spec.source}: conditions.effects.{name}: transform \"log\" needs positive values "
                            f"of {e.column!r}, found {bad}")
        x = np.log(x)
    return x


def condition_design(spec: ModelSpec, per_cond: pd.DataFrame, t: pd.DataFrame, conditions: list[str]
                      ) -> tuple[list[str], np.ndarray, list[str], dict[str, tuple[int, float]]]:
    """Columns of the condition effects the data support, their (C, n) design, notes on those left out, and the
    change-point effects (name -> (column, width); their column holds the dose rescaled to [0, 1], which the
    model turns into a step at the free location ``tau``)."""
    names, cols, notes, steps = [], [], [], {}
    for name, e in spec.conditions.effects.items():
        if e.column not in t.columns:
            notes.append(f"condition effect {name!r} left out: the data have no column {e.column!r}")
            continue
        if e.column == "condition":                # the condition itself (its name, not a column of the data)
            v = pd.Series(conditions, index=conditions, dtype=object)
        else:
            if t.groupby("condition")[e.column].nunique(dropna=False).max() > 1:
                raise SpecError(f"{spec.source}: conditions.effects.{name}: column {e.column!r} is not constant "
                                "within a condition")
            v = per_cond[e.column].reindex(conditions)
        if e.kind in ("indicator", "categorical"):
            ref = e.reference
            if ref is None:                                    # categorical without one: the most answers
                ref = reference_level(t[e.column].astype(str), t["count"], None, e.column, spec.source)
            if ref not in set(v.astype(str)):
                notes.append(f"condition effect {name!r} left out: no condition has {e.column} = {ref!r}")
                continue
            if e.kind == "categorical":
                levels = sorted(set(v.astype(str)) - {ref})
                if not levels:
                    notes.append(f"condition effect {name!r} left out: every condition has the same {e.column}")
                for lv in levels:
                    names.append(f"{name}[{lv}]")
                    cols.append((v.astype(str) == lv).to_numpy(float))
                continue
            x = (v.astype(str) != ref).to_numpy(float)
        else:
            x = _numeric_column(spec, name, e, v)
            if np.ptp(x) > 0 and e.kind == "changepoint":      # rescaled to [0, 1]; the step is made in the model
                x = (x - x.min()) / np.ptp(x)
                steps[name] = (len(cols), 0.05 if e.width is None else e.width)
            elif np.ptp(x) > 0 and e.kind == "smooth":
                n_values = len(np.unique(x))
                degree = min(3 if e.degree is None else e.degree, n_values - 1)
                if degree < (3 if e.degree is None else e.degree):
                    notes.append(f"condition effect {name!r}: degree {degree}, as the conditions have only "
                                 f"{n_values} values of {e.column}")
                for j, col in enumerate(smooth_basis(x, degree).T):
                    names.append(f"{name}[{j + 1}]")
                    cols.append(col)
                continue
            elif x.std() > 0:
                what = f"log({e.column})" if getattr(e, "transform", None) == "log" else e.column
                notes.append(f"condition effect {name!r}: log-odds per sd of {what} over the conditions "
                             f"(mean {x.mean():.3g}, sd {x.std():.3g})")   # the unit the report's table is in
                x = (x - x.mean()) / x.std()
        if np.ptp(x) == 0:
            notes.append(f"condition effect {name!r} left out: every condition has the same {e.column}")
            continue
        names.append(name)
        cols.append(x)
    return names, (np.stack(cols, axis=1) if cols else np.zeros((len(conditions), 0))), notes, steps


def interaction_design(spec: ModelSpec, cells: pd.DataFrame, per_cond: pd.DataFrame, feats: list[str]
                        ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """The ``prompt.interactions`` the data support: names ``feature[v]:column[w]``, their (cells, n) 0/1 design
    ``x[cell] = 1[feature(cell) = v] * 1[column(condition(cell)) = w]``, the prior sd of each, and notes.

    The feature's reference level is the one :func:`reference_level` picks for its main effect; an interaction
    whose feature or column the data lack is left out with a note (the feature then keeps its main effect), and so
    is a (level, value) pair no cell has (its coefficient would be set by the prior alone).
    """
    names, cols, sds, notes = [], [], [], []
    for x in spec.prompt.interactions:
        if x.feature not in feats:
            notes.append(f"interaction {x.feature}:{x.column} left out: {x.feature!r} is not a prompt feature "
                         "of the data")
            continue
        if x.column != "condition" and x.column not in per_cond.columns:
            notes.append(f"interaction {x.feature}:{x.column} left out: the data have no condition column "
                         f"{x.column!r}; the feature keeps one effect for all conditions")
            continue
        col = (cells["condition"].astype(str) if x.column == "condition"
               else cells["condition"].astype(str).map(per_cond[x.column].astype(str)))
        ref = reference_level(cells[x.feature].astype(str), cells["count"], spec.prompt.reference.get(x.feature),
                               x.feature, spec.source)
        sd = spec.prompt.coef_sd if x.coef_sd is None else x.coef_sd
        for v in sorted(set(cells[x.feature].astype(str)) - {ref}):
            for w in sorted(col.unique().tolist()):
                xi = ((cells[x.feature].astype(str) == v) & (col == w)).to_numpy(float)
                if not xi.any():
                    notes.append(f"interaction {x.feature}[{v}]:{x.column}[{w}] left out: no answer has both")
                    continue
                names.append(f"{x.feature}[{v}]:{x.column}[{w}]")
                cols.append(xi)
                sds.append(sd)
    design = np.stack(cols, axis=1) if cols else np.zeros((len(cells), 0))
    return names, design, np.array(sds, float), notes


def step(r: np.ndarray, tau: np.ndarray | float, width: float) -> np.ndarray:
    """The smoothed step of a change-point effect, ``sigmoid((r - tau) / width)``, in NumPy (the model's mirror)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(r) - np.asarray(tau)) / width))


def feature_design(spec: ModelSpec, cells: pd.DataFrame, feats: list[str], interacted: set[str]
                   ) -> tuple[list[str], dict[str, list[str]], np.ndarray]:
    """Coefficient names ``feature[level]`` of every non-reference level of each prompt feature (a feature that
    enters through an interaction has none of its own), each feature's levels (reference first) and the (cells,
    n_coefs) 0/1 design."""
    coefs, feature_levels, cols = [], {}, []
    for f in feats:
        ref = reference_level(cells[f].astype(str), cells["count"], spec.prompt.reference.get(f), f, spec.source)
        lv = sorted(cells[f].astype(str).unique().tolist())
        feature_levels[f] = [ref] + [v for v in lv if v != ref]
        if f in interacted:            # its effect is one coefficient per column value (the interaction)
            continue
        for v in feature_levels[f][1:]:
            coefs.append(f"{f}[{v}]")
            cols.append((cells[f].astype(str) == v).to_numpy(float))
    return coefs, feature_levels, (np.stack(cols, axis=1) if cols else np.zeros((len(cells), 0)))


# ------------------------------------------------------------------------------------------------------ terms
def _with_reference(free, name: str | None, dims, pm, pt):
    """``[0, free]`` along the last axis as a deterministic ``name`` (the reference persona's column is 0), or
    ``free`` itself when ``name`` is ``None``."""
    if name is None:
        return free
    zeros = pt.zeros((free.shape[0], 1))
    return pm.Deterministic(name, pt.concatenate([zeros, free], axis=1), dims=dims)


@dataclass(frozen=True)
class ConditionEffects:
    """Fixed effects of condition columns on the condition mean: ``x_c . beta`` with ``beta ~ Normal(0, coef_sd)``
    (log-odds or location per unit of the column), and a free location ``changepoint_<effect> ~ Uniform(0, 1)`` for
    every change-point column."""

    beta: str
    changepoint: str = "changepoint_{effect}"

    def changepoint_name(self, effect: str) -> str:
        return self.changepoint.format(effect=effect)

    def build(self, data, coef_sd: float, param_dim: str | None):
        """``x_c . beta`` (C, P), or ``None`` when the model has no condition effects."""
        import pymc as pm
        import pytensor.tensor as pt

        if not data.condition_coefs:
            return None
        dims = (CONDITION_COEF, param_dim) if param_dim else CONDITION_COEF
        beta = pm.Normal(self.beta, 0.0, coef_sd, dims=dims)
        X = pt.as_tensor(data.condition_x)
        for name, (j, width) in data.condition_steps.items():
            tau = pm.Uniform(self.changepoint_name(name), 0.0, 1.0)
            X = pt.set_subtensor(X[:, j], pt.sigmoid((pt.as_tensor(data.condition_x[:, j]) - tau) / width))
        out = pt.dot(X, beta)
        return out if param_dim else out[:, None]

    def columns(self, data, post) -> np.ndarray:
        """The design with each change-point column at the drawn location: (..., C, n_coefs) for a ``post`` whose
        arrays share leading axes (one draw: no leading axes)."""
        X = np.asarray(data.condition_x, float)
        if not data.condition_steps:
            return X
        taus = {n: np.asarray(post[self.changepoint_name(n)], float) for n in data.condition_steps}
        lead = next(iter(taus.values())).shape
        out = np.broadcast_to(X, (*lead, *X.shape)).copy()
        for name, (j, width) in data.condition_steps.items():
            out[..., j] = step(X[:, j], taus[name][..., None], width)
        return out

    def start(self, data, target: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str], np.ndarray | None]:
        """Least-squares split of the condition values ``target`` (C, P) into ``mean + x_c . beta``: start values,
        jitter rules (change-point locations on the logit scale), and the part ``x_c . beta`` of ``target``. Each
        change-point location starts at the midpoint between consecutive observed doses whose step fits best."""
        if not data.condition_coefs:
            return {}, {}, None
        init: dict[str, np.ndarray] = {}
        jitter: dict[str, str] = {}
        t2 = target if target.ndim == 2 else target[:, None]
        cx = np.asarray(data.condition_x, float).copy()
        for name, (j, width) in data.condition_steps.items():
            r = np.unique(data.condition_x[:, j])
            best = (np.inf, 0.5)
            for tau in (r[:-1] + r[1:]) / 2:
                cx[:, j] = step(data.condition_x[:, j], tau, width)
                X = np.concatenate([np.ones((len(t2), 1)), cx], axis=1)
                res = t2 - X @ np.linalg.lstsq(X, t2, rcond=None)[0]
                best = min(best, (float((res ** 2).sum()), float(tau)))
            init[self.changepoint_name(name)] = np.array(best[1])
            jitter[self.changepoint_name(name)] = "logit"
            cx[:, j] = step(data.condition_x[:, j], best[1], width)
        X = np.concatenate([np.ones((len(t2), 1)), cx], axis=1)
        coef = np.linalg.lstsq(X, t2, rcond=None)[0][1:]
        init[self.beta] = coef if target.ndim == 2 else coef[:, 0]
        return init, jitter, cx @ coef


@dataclass(frozen=True)
class Coefficients:
    """Normal(0, sd) coefficients of a 0/1 design over cells (prompt features, feature x condition interactions):
    ``free`` (rows, P) and, for persona log-odds, the deterministic ``full`` with the reference persona's column of
    zeros (rows, K)."""

    free: str
    full: str | None
    row_dim: str

    def build(self, sd, param_dim: str, full_dim: str | None = None):
        import pymc as pm
        import pytensor.tensor as pt

        g = pm.Normal(self.free, 0.0, sd, dims=(self.row_dim, param_dim))
        return _with_reference(g, self.full, (self.row_dim, full_dim), pm, pt)

    def evaluate(self, post) -> np.ndarray | None:
        """The full coefficients on draws, or ``None`` when the fit has none."""
        name = self.full or self.free
        return np.asarray(post[name]) if name in post else None


@dataclass(frozen=True)
class QuestionEffect:
    """The per-question effect, (prompt, P): ``sigma_question[P] * u_raw[P, prompt]`` with ``u_raw`` zero-sum over
    questions (``question_effect = "zerosum"``) or independent Normal(0, 1), ``sigma_question ~
    HalfNormal(question_sigma)``; kept as the deterministic ``value`` (with a zero column for the reference persona
    when ``reference`` is set)."""

    value: str
    reference: bool = False
    sigma: str = "sigma_question"
    raw: str = "u_raw"

    @staticmethod
    def active(spec: ModelSpec, data) -> bool:
        return spec.prompt.question_effect != "none" and len(data.prompts) > 1

    def build(self, spec: ModelSpec, param_dim: str, full_dim: str | None = None):
        import pymc as pm
        import pytensor.tensor as pt

        sq = pm.HalfNormal(self.sigma, spec.prompt.question_sigma, dims=param_dim)
        if spec.prompt.question_effect == "zerosum":
            ur = pm.ZeroSumNormal(self.raw, 1.0, dims=(param_dim, PROMPT))
        else:
            ur = pm.Normal(self.raw, 0.0, 1.0, dims=(param_dim, PROMPT))
        u = (sq[:, None] * ur).T
        if self.reference:
            return _with_reference(u, self.value, (PROMPT, full_dim), pm, pt)
        return pm.Deterministic(self.value, u, dims=(PROMPT, param_dim))

    def start(self, u: np.ndarray | None, size: int, n_prompts: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Start values reproducing question effects ``u`` (prompts, P), or small neutral ones; ``u_raw`` is not
        jittered (a zero-sum vector jittered element by element leaves its constraint)."""
        if u is None:
            init = {self.sigma: np.full(size, 0.3), self.raw: np.zeros((size, n_prompts))}
        else:
            sq = np.maximum(u.std(0), 0.1)
            init = {self.sigma: sq, self.raw: (u / sq).T}
        return init, {self.sigma: "log", self.raw: "none"}

    def evaluate(self, post) -> np.ndarray | None:
        return np.asarray(post[self.value]) if self.value in post else None


__all__ = ["Coefficients", "ConditionEffects", "QuestionEffect", "condition_design", "feature_design",
           "interaction_design", "reference_level", "smooth_basis", "step"]
