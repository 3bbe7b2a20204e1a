"""PyMC graphs of persona models, built from a :class:`~simstats.spec.ModelSpec` and :class:`Patterns`.

The likelihood runs on the exact sufficient statistics: one term per unique pattern, weighted by its count::

    logit_k(c, q) = eta[c, k] + x(q) . gamma_k + xi(c, q) . gamma_interaction_k + u[q, k]
                                                                  (eta[:, 0] = 0: the first persona is the reference)
    log L         = sum_patterns count * log sum_k softmax(logit(c, q))_k * prod_m fp_m[k, y_m]

``xi(c, q)`` is the 0/1 design of ``[prompt] interactions`` (a trigger whose effect differs by a condition column:
``xi[v:w] = 1[feature(q) = v] * 1[column(c) = w]``; the feature then has no column in ``x``). The condition
hierarchy's mean carries the ``[conditions]`` effects, ``x_c . beta``, where a change-point column is
``sigmoid((r_c - tau) / width)`` of the dose ``r_c`` rescaled to [0, 1] (see :func:`_condition_columns`).

(``fp_m[c, k, y_m]`` when fingerprints vary by condition; with K = 1 the sum has one term of weight 1.)

It enters the model as one ``pm.Potential`` named ``loglik`` (cheapest graph for every backend). The per-pattern
log-likelihood needed for PSIS-LOO is computed afterwards from the posterior draws by
:func:`pattern_log_likelihood` (NumPy, no recompilation). It is the log-likelihood of ONE answer with that pattern;
since answers sharing a pattern are exchangeable, the per-answer LOO is ``sum_p count_p * elpd_loo(p)`` with
``elpd_loo(p)`` from that per-pattern value (pass ``count`` as weights).

Condition hierarchy: each level's groups (coarsest first, the condition last) get log-odds around their parent's,
``eta_g ~ Normal(eta_parent(g), sd_g)`` (centred) or ``eta_g = eta_parent(g) + sd_g * z_g`` (non-centred), with one
sd per level and persona. A group with a single child hands its variance to the child instead of having an effect
of its own (``sd_child^2 = sigma_child^2 + sigma_group^2``): the same prior on every condition, without the ridge
along which the two effects trade off.

>>> from simstats.spec import load_spec                  # doctest: +SKIP
>>> model, data = build_model(load_spec("models/persona_mixture.toml"), patterns)   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simstats.errors import SpecError
from simstats.likelihoods import FAMILIES, category_index, category_labels, pattern_mixture_loglik
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec

PERSONA, PERSONA_FREE, CONDITION, PROMPT, COEF = "persona", "persona_free", "condition", "prompt", "coef"
CONDITION_COEF = "condition_coef"
INTERACTION = "interaction"
LEVEL = "hierarchy_level"


def category_dim(measure: str) -> str:
    """Name of the category dimension of a measure's fingerprint (``<measure>_bin``)."""
    return f"{measure}_bin"


@dataclass
class ModelData:
    """Index arrays that tie the pattern table to the model's parameters (all NumPy, no PyMC)."""

    personas: list[str]
    conditions: list[str]
    prompts: list[str]
    coefs: list[str]                      # "feature[level]" for every non-reference feature level
    levels: list[str]                     # hierarchy level columns above the condition (coarsest first)
    level_groups: list[list[str]]         # group labels per level
    level_index: list[np.ndarray]         # (C,) group index per level
    cell_condition: np.ndarray            # (n_cells,) condition index
    cell_prompt: np.ndarray               # (n_cells,) prompt index
    cell_x: np.ndarray                    # (n_cells, n_coefs) 0/1 design of prompt features
    cell_count: np.ndarray                # (n_cells,) answers per cell
    pattern_cell: np.ndarray              # (n_patterns,) cell index
    pattern_cat: dict[str, np.ndarray]    # measure -> (n_patterns,) category (0 = no_score, b+1 = bin b)
    count: np.ndarray                     # (n_patterns,) answers per pattern
    patterns: Patterns                    # the (coarsened) patterns the model sees
    cells: pd.DataFrame                   # one row per cell: condition, prompt, features, count
    verdict_levels: list[str] | None = None
    pattern_verdict: np.ndarray | None = None
    feature_levels: dict[str, list[str]] = field(default_factory=dict)
    pattern_emission: np.ndarray | None = None     # (n_patterns,) index of the pattern's unique emission pattern
    emission_cat: dict[str, np.ndarray] = field(default_factory=dict)  # measure/"verdict" -> (E,) categories
    level_scale: list[np.ndarray] = field(default_factory=list)  # per level: (groups, L + 1) 0/1 variance mix
    condition_scale: np.ndarray | None = None   # (C, L + 1) 0/1: which levels' variances a condition carries
    centred_condition: np.ndarray | None = None   # (C, K - 1) bool, parametrization "adaptive": centred elements
    condition_coefs: list[str] = field(default_factory=list)   # condition effects that entered the model
    condition_x: np.ndarray | None = None       # (C, n_condition_coefs) their design
    notes: list[str] = field(default_factory=list)   # what the spec asked for and the data could not support
    kind: str = "mixture"                       # the spec's model.kind ("mixture" | "degradation")
    fingerprint_vary: str = "shared"            # the spec's fingerprints.vary ("shared" | "condition")
    measure_likelihood: dict[str, str] = field(default_factory=dict)   # measure -> its likelihood family
    pattern_ce: np.ndarray | None = None        # (n_patterns,) index of the pattern's (condition, emission) pair
    ce_condition: np.ndarray | None = None      # (CE,) condition of each (condition, emission) pair
    ce_cat: dict[str, np.ndarray] = field(default_factory=dict)  # measure/"verdict" -> (CE,) categories
    interaction_coefs: list[str] = field(default_factory=list)  # "feature[v]:column[w]" (prompt.interactions)
    cell_xi: np.ndarray | None = None           # (n_cells, n_interaction_coefs) 0/1 design of those
    interaction_sd: np.ndarray | None = None    # (n_interaction_coefs,) prior sd of each
    condition_steps: dict[str, tuple[int, float]] = field(default_factory=dict)   # changepoint effect ->
    #                                             (its column of condition_x, which holds the rescaled dose; width)

    def __post_init__(self) -> None:
        cols = [self.pattern_cat[m] for m in self.pattern_cat]
        names = list(self.pattern_cat)
        if self.pattern_verdict is not None:
            cols.append(self.pattern_verdict)
            names.append("verdict")
        if self.pattern_emission is None:
            uniq, inv = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
            self.pattern_emission = inv.reshape(-1).astype(np.int64)
            self.emission_cat = {n: uniq[:, i].astype(np.int64) for i, n in enumerate(names)}
        if self.pattern_ce is None:      # emissions per condition: what condition-specific fingerprints need
            key = np.stack([self.pattern_condition, *cols], axis=1)
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
            self.pattern_ce = inv.reshape(-1).astype(np.int64)
            self.ce_condition = uniq[:, 0].astype(np.int64)
            self.ce_cat = {n: uniq[:, i + 1].astype(np.int64) for i, n in enumerate(names)}

    @property
    def pattern_condition(self) -> np.ndarray:
        """(n_patterns,) condition index of each pattern."""
        return self.cell_condition[self.pattern_cell]

    @property
    def free_groups(self) -> list[list[str]]:
        """Per hierarchy level, the groups with an effect of their own (single-child groups hand theirs down)."""
        return [[g for g, row in zip(groups, scale) if row.any()]
                for groups, scale in zip(self.level_groups, self.level_scale)]

    def free_group_index(self, i: int) -> np.ndarray:
        """(C,) index of each condition's level-``i`` group among :attr:`free_groups` (-1: a handed-down one)."""
        pos = np.cumsum(self.level_scale[i].any(1)) - 1
        free = self.level_scale[i].any(1)
        return np.where(free[self.level_index[i]], pos[self.level_index[i]], -1)

    @property
    def measures(self) -> list[str]:
        return list(self.pattern_cat)

    @property
    def coords(self) -> dict[str, list[str]]:
        c = {PERSONA: self.personas, PERSONA_FREE: self.personas[1:], CONDITION: self.conditions,
             PROMPT: self.prompts, COEF: self.coefs, CONDITION_COEF: self.condition_coefs}
        if self.interaction_coefs:
            c[INTERACTION] = self.interaction_coefs
        for lev, groups in zip(self.levels, self.free_groups):
            c[lev] = groups
        if self.levels:
            c[LEVEL] = [*self.levels, CONDITION]
        for m in self.measures:
            c[category_dim(m)] = category_labels(self.patterns.grids[m])
        if self.verdict_levels is not None:
            c["verdict"] = self.verdict_levels
        return c


def _coarsen(spec: ModelSpec, patterns: Patterns) -> Patterns:
    missing = [m for m in spec.measure_names if m not in patterns.measures]
    if missing:
        raise SpecError(f"{spec.source}: measure(s) {missing} are not in the data (data has {patterns.measures})")
    per = {}
    for m in spec.measures:
        g = patterns.grids[m.name]
        if m.bins is not None and m.bins != g.n_bins:
            if g.n_bins % m.bins:
                raise SpecError(f"{spec.source}: measures.{m.name}.bins = {m.bins} does not divide the data grid's "
                                f"{g.n_bins} bins")
            per[m.name] = m.bins
    return patterns.coarsen(per) if per else patterns


def _collapse_single_child_groups(structure: str, level_index: list[np.ndarray], n_groups: list[int],
                                  n_conditions: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Which hierarchy variances each group's (and each condition's) effect carries.

    A group with a single child (nested: one group at the next level, or one condition under the last level;
    crossed: one condition) cannot separate its own effect from its child's: with ``eta = parent + s_g z_g + s_c z_c``
    only the sum is identified, and the sampler crawls along that ridge. ``s_g z_g + s_c z_c`` has the same
    distribution as ``sqrt(s_g^2 + s_c^2) z``, so the group's variance moves to its child and the group's own effect
    is switched off. This is an exact reparametrisation (same prior on every condition's log-odds), not a change of
    model. Returns, per level, a (groups, L + 1) 0/1 matrix (column j: level j's variance; column L: the
    condition level's; an all-zero row is a switched-off group) and the (C, L + 1) matrix of the conditions.
    """
    L = len(level_index)
    carried = np.zeros((n_conditions, L + 1))       # per condition: variances passed down to it
    carried[:, L] = 1.0
    scales = []
    if structure == "nested":
        # walk from the coarsest level down; a group passes its variance set to its one child (group or condition)
        passed = np.zeros((n_conditions, L + 1))    # variance sets passed down to the groups along each path
        for lev in range(L):
            g_of_c = level_index[lev]
            child = level_index[lev + 1] if lev + 1 < L else np.arange(n_conditions)
            own = np.zeros((n_groups[lev], L + 1))
            for g in range(n_groups[lev]):
                members = g_of_c == g
                if not members.any():
                    continue
                want = passed[members][0].copy()
                want[lev] = 1.0
                if len(np.unique(child[members])) == 1:      # single child: hand the variances down
                    passed[members] = want
                else:
                    own[g] = want
                    passed[members] = 0.0
            scales.append(own)
        carried = carried + passed
    else:
        for lev in range(L):
            own = np.zeros((n_groups[lev], L + 1))
            for g in range(n_groups[lev]):
                members = np.flatnonzero(level_index[lev] == g)
                if len(members) == 1:
                    carried[members[0], lev] = 1.0
                elif len(members) > 1:
                    own[g, lev] = 1.0
            scales.append(own)
    return scales, carried


def _reference_level(values: pd.Series, counts: pd.Series, wanted: str | None, feature: str, src: str) -> str:
    levels = sorted(values.unique().tolist())
    if wanted is not None:
        if wanted not in levels:
            raise SpecError(f"{src}: prompt.reference.{feature} = {wanted!r} is not a level of the data ({levels})")
        return wanted
    tot = counts.groupby(values).sum()
    return sorted(levels, key=lambda v: (-tot[v], v))[0]


def _smooth_basis(x: np.ndarray, degree: int) -> np.ndarray:
    """(C, degree) orthonormal polynomial basis of ``x`` over the conditions, scaled to unit mean square:
    the QR of the centred Vandermonde ``[z, z^2, ..., z^degree]`` (``z`` standardised), so the coefficients are
    nearly independent a priori and in the posterior."""
    z = (x - x.mean()) / x.std()
    V = np.stack([z ** j for j in range(1, degree + 1)], axis=1)
    q, r = np.linalg.qr(V - V.mean(0))
    q = q * np.sign(np.diag(r))[None, :]           # the first column increases with x, like the linear effect
    return q * np.sqrt(len(x))


def _numeric_effect(spec: ModelSpec, name: str, e, v: pd.Series) -> np.ndarray:
    x = pd.to_numeric(v, errors="coerce").to_numpy(float)
    if np.isnan(x).any():
        bad = v[np.isnan(x)].astype(str).unique()[:3].tolist()
        raise SpecError(f"{spec.source}: conditions.effects.{name}: column {e.column!r} is numeric but "
                        f"has values {bad}")
    return x


def _condition_design(spec: ModelSpec, per_cond: pd.DataFrame, t: pd.DataFrame, conditions: list[str]
                      ) -> tuple[list[str], np.ndarray, list[str], dict[str, tuple[int, float]]]:
    """Columns of the condition effects the data support, their (C, n) design, notes on those left out, and the
    change-point effects (name -> (column, width); their column holds the dose rescaled to [0, 1], which the
    model turns into a step at the free location ``tau``)."""
    names, cols, notes, steps = [], [], [], {}
    for name, e in spec.conditions.effects.items():
        if e.column not in t.columns:
            notes.append(f"condition effect {name!r} left out: the data have no column {e.column!r}")
            continue
        if t.groupby("condition")[e.column].nunique(dropna=False).max() > 1:
            raise SpecError(f"{spec.source}: conditions.effects.{name}: column {e.column!r} is not constant "
                            "within a condition")
        v = per_cond[e.column].reindex(conditions)
        if e.kind in ("indicator", "categorical"):
            ref = e.reference
            if ref is None:                                    # categorical without one: the most answers
                ref = _reference_level(t[e.column].astype(str), t["count"], None, e.column, spec.source)
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
            x = _numeric_effect(spec, name, e, v)
            if np.ptp(x) > 0 and e.kind == "changepoint":      # rescaled to [0, 1]; the step is made in the model
                x = (x - x.min()) / np.ptp(x)
                steps[name] = (len(cols), 0.05 if e.width is None else e.width)
            elif np.ptp(x) > 0 and e.kind == "smooth":
                n_values = len(np.unique(x))
                degree = min(3 if e.degree is None else e.degree, n_values - 1)
                if degree < (3 if e.degree is None else e.degree):
                    notes.append(f"condition effect {name!r}: degree {degree}, as the conditions have only "
                                 f"{n_values} values of {e.column}")
                for j, col in enumerate(_smooth_basis(x, degree).T):
                    names.append(f"{name}[{j + 1}]")
                    cols.append(col)
                continue
            elif x.std() > 0:
                x = (x - x.mean()) / x.std()
        if np.ptp(x) == 0:
            notes.append(f"condition effect {name!r} left out: every condition has the same {e.column}")
            continue
        names.append(name)
        cols.append(x)
    return names, (np.stack(cols, axis=1) if cols else np.zeros((len(conditions), 0))), notes, steps


def _identified_levels(levels: list[str], level_groups: list[list[str]], level_index: list[np.ndarray],
                       condition_x: np.ndarray) -> tuple[list[str], list[list[str]], list[np.ndarray], list]:
    """Drop hierarchy levels whose group effects the fixed part of the model already spans.

    A level's effects are identified only if its groups cannot be written as the population mean plus condition
    effects: a single group overall (e.g. a subset of one base model) is a second intercept, and two fine-tune
    groups under one base model with a categorical fine-tune effect repeat that effect. Left in, its sd is fixed by
    its prior alone and the sampler crawls along the ridge (R-hat 1.13, bulk ESS 15 on the eight Qwen-Coder
    checkpoints). Returns the kept levels, their groups and indices, and ``(level, n_groups)`` of those dropped.
    """
    base = np.column_stack([np.ones(len(condition_x)), condition_x])
    rank = np.linalg.matrix_rank(base)
    kept, dropped = [], []
    for lev, groups, idx in zip(levels, level_groups, level_index):
        onehot = np.eye(len(groups))[idx]
        if np.linalg.matrix_rank(np.column_stack([base, onehot])) == rank:
            dropped.append((lev, len(groups)))
        else:
            kept.append((lev, groups, idx))
    return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept], dropped


def model_data(spec: ModelSpec, patterns: Patterns) -> ModelData:
    """Coarsen ``patterns`` as the spec asks and build the index arrays of the model."""
    p = _coarsen(spec, patterns)
    t = p.table
    if t.empty or p.n_answers == 0:
        raise SpecError("the pattern table is empty: nothing to fit")
    src = spec.source
    feats = list(p.features) if spec.prompt.features is None else list(spec.prompt.features)
    for f in feats:
        if f not in t.columns:
            raise SpecError(f"{src}: prompt feature {f!r} is not a column of the data (features: {p.features})")
    levels = list(p.condition_levels) if spec.hierarchy.levels is None else list(spec.hierarchy.levels)
    for lev in levels:
        if lev not in t.columns:
            raise SpecError(f"{src}: hierarchy level {lev!r} is not a column of the data "
                            f"(levels: {p.condition_levels})")
    conditions = sorted(t["condition"].astype(str).unique().tolist())
    prompts = sorted(t["prompt"].astype(str).unique().tolist())
    cond_idx = {c: i for i, c in enumerate(conditions)}

    # hierarchy: groups per level (nested groups are paths "a/b")
    per_cond = t.drop_duplicates("condition").set_index("condition")
    level_groups, level_index = [], []
    for i, lev in enumerate(levels):
        if spec.hierarchy.structure == "nested":
            lab = per_cond[levels[: i + 1]].astype(str).agg("/".join, axis=1)
        else:
            lab = per_cond[lev].astype(str)
        if t.groupby("condition")[lev].nunique().max() > 1:
            raise SpecError(f"hierarchy level {lev!r} is not constant within a condition")
        lab = lab.reindex(conditions)
        groups = sorted(lab.unique().tolist())
        level_groups.append(groups)
        level_index.append(np.array([groups.index(v) for v in lab], dtype=np.int64))

    condition_coefs, condition_x, notes, steps = _condition_design(spec, per_cond, t, conditions)
    if steps and spec.kind != "mixture":
        raise SpecError(f"{src}: change-point condition effects ({', '.join(steps)}) need a persona mixture")
    levels, level_groups, level_index, dropped = _identified_levels(levels, level_groups, level_index, condition_x)
    for lev, n in dropped:
        notes.append(f"hierarchy level {lev!r} left out: its {n} group(s) are already told apart by the population "
                     "mean" + (f" and the condition effects ({', '.join(condition_coefs)})" if condition_coefs else "")
                     + ", so its sd would be identified by its prior alone")
    level_scale, condition_scale = _collapse_single_child_groups(spec.hierarchy.structure, level_index,
                                                                 [len(g) for g in level_groups], len(conditions))

    # cells = unique (condition, prompt, features)
    cell_keys = ["condition", "prompt", *feats]
    cells = t.groupby(cell_keys, observed=True, sort=True)["count"].sum().reset_index()
    coefs, feature_levels, cols = [], {}, []
    inter, cell_xi, inter_sd, inter_notes = _interaction_design(spec, cells, per_cond, feats)
    notes += inter_notes
    interacted = {x.feature for x in spec.prompt.interactions} & {n.split("[")[0] for n in inter}
    for f in feats:
        ref = _reference_level(cells[f].astype(str), cells["count"], spec.prompt.reference.get(f), f, src)
        lv = sorted(cells[f].astype(str).unique().tolist())
        feature_levels[f] = [ref] + [v for v in lv if v != ref]
        if f in interacted:            # its effect is one coefficient per column value (the interaction)
            continue
        for v in feature_levels[f][1:]:
            coefs.append(f"{f}[{v}]")
            cols.append((cells[f].astype(str) == v).to_numpy(float))
    cell_x = np.stack(cols, axis=1) if cols else np.zeros((len(cells), 0))
    cell_id = pd.MultiIndex.from_frame(cells[cell_keys].astype(str))
    pat_id = pd.MultiIndex.from_frame(t[cell_keys].astype(str))
    pattern_cell = cell_id.get_indexer(pat_id)

    verdict_levels = pattern_verdict = None
    if "verdict" in t.columns and p.verdict_levels:
        verdict_levels = list(p.verdict_levels)
        pattern_verdict = np.array([verdict_levels.index(v) for v in t["verdict"].astype(str)], dtype=np.int64)

    if spec.kind == "mixture" and len(spec.personas) == 1 and condition_coefs:
        notes.append(f"condition effects {condition_coefs} left out: with one persona there are no persona "
                     "log-odds for them to move")
        condition_coefs, condition_x = [], np.zeros((len(conditions), 0))
    return ModelData(
        personas=spec.persona_names, conditions=conditions, prompts=prompts, coefs=coefs, levels=levels,
        level_groups=level_groups, level_index=level_index, level_scale=level_scale,
        condition_scale=condition_scale,
        cell_condition=cells["condition"].astype(str).map(cond_idx).to_numpy(np.int64),
        cell_prompt=cells["prompt"].astype(str).map({q: i for i, q in enumerate(prompts)}).to_numpy(np.int64),
        cell_x=cell_x, cell_count=cells["count"].to_numpy(np.int64), pattern_cell=pattern_cell.astype(np.int64),
        pattern_cat={m: category_index(t[m].to_numpy()) for m in spec.measure_names},
        count=t["count"].to_numpy(np.int64), patterns=p, cells=cells, verdict_levels=verdict_levels,
        pattern_verdict=pattern_verdict, feature_levels=feature_levels, condition_coefs=condition_coefs,
        condition_x=condition_x, notes=notes, kind=spec.kind, fingerprint_vary=spec.fingerprints.vary,
        measure_likelihood={m.name: m.likelihood for m in spec.measures},
        interaction_coefs=inter, cell_xi=cell_xi, interaction_sd=inter_sd, condition_steps=steps)


def _interaction_design(spec: ModelSpec, cells: pd.DataFrame, per_cond: pd.DataFrame, feats: list[str]
                        ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """The ``prompt.interactions`` the data support: names ``feature[v]:column[w]``, their (cells, n) 0/1 design
    ``x[cell] = 1[feature(cell) = v] * 1[column(condition(cell)) = w]``, the prior sd of each, and notes.

    The feature's reference level is the one :func:`_reference_level` picks for its main effect; an interaction
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
        ref = _reference_level(cells[x.feature].astype(str), cells["count"], spec.prompt.reference.get(x.feature),
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


def _verdict_alpha(spec: ModelSpec, levels: list[str]) -> np.ndarray:
    rows = []
    for p in spec.personas:
        known = {k: v for k, v in p.verdicts.items() if k in levels}
        rest = [lv for lv in levels if lv not in known]
        left = max(0.0, 1.0 - sum(known.values()))
        prof = np.array([known.get(lv, left / len(rest) if rest else 0.0) for lv in levels])
        rows.append(1.0 + spec.verdict_strength * prof)
    return np.stack(rows)


def data_arrays(data: ModelData) -> dict[str, np.ndarray]:
    """The values of the model's ``pm.Data`` variables (what a compiled model swaps for another log's)."""
    out = {"cell_condition": data.cell_condition, "cell_prompt": data.cell_prompt,
           "cell_x": data.cell_x.astype(float), "pattern_cell": data.pattern_cell,
           "pattern_emission": data.pattern_emission, "count": data.count.astype(float)}
    if data.interaction_coefs:          # only then: a model without interactions keeps its data and cache keys
        out["cell_xi"] = data.cell_xi.astype(float)
    out.update({f"emission_cat_{m}": v for m, v in data.emission_cat.items()})
    if data.fingerprint_vary == "condition":
        out.update({"pattern_ce": data.pattern_ce, "ce_condition": data.ce_condition})
        out.update({f"ce_cat_{m}": v for m, v in data.ce_cat.items()})
    out.update({f"level_index_{lev}": v for lev, v in zip(data.levels, data.level_index)})
    return out


def adaptive_centring(data: ModelData, expected_counts: np.ndarray, min_count: float = 10.0) -> np.ndarray:
    """(C, K - 1) mask of the condition-level log-odds to centre under ``parametrization = "adaptive"``.

    ``expected_counts`` (C, K): answers of each persona per condition (e.g. from the EM start). A centred
    ``eta ~ Normal(mean, sd)`` samples well when the data pin ``eta`` (its likelihood sd ~ 1/sqrt(n p) is below the
    prior sd); where a persona is (nearly) absent from a condition the data only bound ``eta`` from above, and the
    centred form makes a funnel with the condition-level sd. Those elements are non-centred.
    """
    return np.asarray(expected_counts)[:, 1:] >= min_count


def step(r: np.ndarray, tau: np.ndarray | float, width: float) -> np.ndarray:
    """The smoothed step of a change-point effect, ``sigmoid((r - tau) / width)``, in NumPy (the model's mirror)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(r) - np.asarray(tau)) / width))


def _condition_columns(data: ModelData):
    """The condition design as a tensor: ``condition_x`` with every change-point column ``r`` (the dose rescaled
    to [0, 1]) replaced by ``sigmoid((r - tau) / width)``, ``tau ~ Uniform(0, 1)`` (``changepoint_<effect>``)::

        eta[c] = ... + sum_j X[c, j] beta[j],   X[c, j] = step(r_c; tau_j)  for a change-point effect j

    so ``beta[j]`` is the height of the step (the log-odds jump across the transition) per persona."""
    import pymc as pm
    import pytensor.tensor as pt

    X = pt.as_tensor(data.condition_x)
    for name, (j, width) in data.condition_steps.items():
        tau = pm.Uniform(f"changepoint_{name}", 0.0, 1.0)
        X = pt.set_subtensor(X[:, j], pt.sigmoid((pt.as_tensor(data.condition_x[:, j]) - tau) / width))
    return X


def question_effect(spec: ModelSpec, dim: str):
    """The per-question effect, (prompt, ``dim``): ``sigma_question[dim] * u_raw[dim, prompt]`` with ``u_raw``
    zero-sum over questions (``question_effect = "zerosum"``) or independent Normal(0, 1), and ``sigma_question ~
    HalfNormal(question_sigma)``. Shared by the persona mixture (``dim`` = persona_free) and degradation (measure)."""
    import pymc as pm

    sq = pm.HalfNormal("sigma_question", spec.prompt.question_sigma, dims=dim)
    if spec.prompt.question_effect == "zerosum":
        ur = pm.ZeroSumNormal("u_raw", 1.0, dims=(dim, PROMPT))
    else:
        ur = pm.Normal("u_raw", 0.0, 1.0, dims=(dim, PROMPT))
    return (sq[:, None] * ur).T


def _persona_logits(spec: ModelSpec, data: ModelData, D: dict):
    """Persona log-odds of every cell, (cells, K): the condition hierarchy (``eta``), condition effects, prompt
    features (``gamma``) and the question effect (``u``). With one persona there is nothing to model: ``eta`` is a
    constant 0 and every cell's weight is 1."""
    import pymc as pm
    import pytensor.tensor as pt

    K = len(data.personas)
    Kf = K - 1
    if K == 1:
        eta = pm.Deterministic("eta", pt.zeros((len(data.conditions), 1)), dims=(CONDITION, PERSONA))
        return eta[D["cell_condition"]]
    mu0 = np.array([p.logodds[0] for p in spec.personas[1:]])
    sd0 = np.array([p.logodds[1] for p in spec.personas[1:]])
    mu = pm.Normal("logodds_mu", mu0, sd0, dims=PERSONA_FREE)
    centred = spec.hierarchy.parametrization in ("centred", "mixed")       # the condition level
    upper_centred = spec.hierarchy.parametrization == "centred"            # the levels above it
    eta_free = pt.broadcast_to(mu[None, :], (len(data.conditions), Kf))
    # sd of every level (condition level last); groups with one child carry no effect of their own and hand
    # their variance down (see _collapse_single_child_groups): effect sd = sqrt(scale_matrix @ sigma^2)
    if spec.hierarchy.variance == "decomposed" and data.levels:
        # total sd per persona, its variance shared out over the levels (same expected total variance)
        L1 = len(data.levels) + 1
        tau = pm.HalfNormal("sigma_total", spec.hierarchy.sigma * np.sqrt(L1), dims=PERSONA_FREE)
        phi = pm.Dirichlet("variance_share", a=np.ones((Kf, L1)), dims=(PERSONA_FREE, LEVEL))
        var = (tau[:, None] ** 2 * phi).T                                # (L + 1, Kf)
        for i, lev in enumerate([*data.levels, CONDITION]):
            pm.Deterministic(f"sigma_{lev}", pt.sqrt(var[i]), dims=PERSONA_FREE)
    else:
        sig = [pm.HalfNormal(f"sigma_{lev}", spec.hierarchy.sigma, dims=PERSONA_FREE)
               for lev in [*data.levels, CONDITION]]
        var = pt.stack(sig) ** 2                                        # (L + 1, Kf)
    for i, lev in enumerate(data.levels):
        idx = data.free_group_index(i)
        free = np.flatnonzero(data.level_scale[i].any(1))
        if len(free) == 0:
            continue
        sd_g = pt.sqrt(pt.dot(pt.as_tensor(data.level_scale[i][free]), var))      # (free groups, Kf)
        member = (idx >= 0)[:, None]
        first = np.array([np.flatnonzero(idx == j)[0] for j in range(len(free))])   # a member condition
        if upper_centred and spec.hierarchy.structure == "nested":     # eta_g ~ Normal(parent, sd_g)
            eg = pm.Normal(f"eta_{lev}", eta_free[first], sd_g, dims=(lev, PERSONA_FREE))
            eta_free = pt.where(member, eg[np.maximum(idx, 0)], eta_free)
        elif upper_centred:                           # crossed: additive offsets ~ Normal(0, sd_g)
            eg = pm.Normal(f"eta_{lev}", 0.0, sd_g, dims=(lev, PERSONA_FREE))
            eta_free = eta_free + pt.where(member, eg[np.maximum(idx, 0)], 0.0)
        else:                                         # eta_g = parent + sd_g * z_g
            z = pm.Normal(f"z_{lev}", 0.0, 1.0, dims=(lev, PERSONA_FREE))
            eta_free = eta_free + pt.where(member, (sd_g * z)[np.maximum(idx, 0)], 0.0)
    sd_c = pt.sqrt(pt.dot(pt.as_tensor(data.condition_scale), var))      # (C, Kf)
    if data.condition_coefs:                      # fixed effects of condition features, on the condition mean
        beta = pm.Normal("beta_condition", 0.0, spec.conditions.coef_sd, dims=(CONDITION_COEF, PERSONA_FREE))
        eta_free = eta_free + pt.dot(_condition_columns(data), beta)
    if spec.hierarchy.parametrization == "adaptive":   # centred where the data pin eta, else non-centred
        C = len(data.conditions)
        mask = (np.ones((C, Kf), bool) if data.centred_condition is None
                else np.asarray(data.centred_condition, bool)).ravel()
        ic, inc = np.flatnonzero(mask), np.flatnonzero(~mask)
        m_flat, s_flat = eta_free.reshape((-1,)), sd_c.reshape((-1,))
        flat = pt.zeros(C * Kf)
        if len(ic):
            ec = pm.Normal(f"eta_{CONDITION}_centred", m_flat[ic], s_flat[ic], shape=len(ic))
            flat = pt.set_subtensor(flat[ic], ec)
        if len(inc):
            zc = pm.Normal(f"z_{CONDITION}_noncentred", 0.0, 1.0, shape=len(inc))
            flat = pt.set_subtensor(flat[inc], m_flat[inc] + s_flat[inc] * zc)
        eta_free = flat.reshape((C, Kf))
    elif centred:                                 # data-rich conditions: centred on their group's mean
        eta_free = pm.Normal(f"eta_{CONDITION}", eta_free, sd_c, dims=(CONDITION, PERSONA_FREE))
    else:
        z = pm.Normal(f"z_{CONDITION}", 0.0, 1.0, dims=(CONDITION, PERSONA_FREE))
        eta_free = eta_free + sd_c * z
    zeros_c = pt.zeros((len(data.conditions), 1))
    eta = pm.Deterministic("eta", pt.concatenate([zeros_c, eta_free], axis=1), dims=(CONDITION, PERSONA))
    logits = eta[D["cell_condition"]]

    if data.coefs:
        g = pm.Normal("gamma_free", 0.0, spec.prompt.coef_sd, dims=(COEF, PERSONA_FREE))
        gamma = pm.Deterministic("gamma", pt.concatenate([pt.zeros((len(data.coefs), 1)), g], axis=1),
                                 dims=(COEF, PERSONA))
        logits = logits + D["cell_x"] @ gamma
    if data.interaction_coefs:                    # a feature's effect per value of a condition column (triggers)
        gi = pm.Normal("gamma_interaction_free", 0.0, data.interaction_sd[:, None], dims=(INTERACTION, PERSONA_FREE))
        gamma_i = pm.Deterministic("gamma_interaction",
                                   pt.concatenate([pt.zeros((len(data.interaction_coefs), 1)), gi], axis=1),
                                   dims=(INTERACTION, PERSONA))
        logits = logits + D["cell_xi"] @ gamma_i
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        u_free = question_effect(spec, PERSONA_FREE)
        u = pm.Deterministic("u", pt.concatenate([pt.zeros((len(data.prompts), 1)), u_free], axis=1),
                             dims=(PROMPT, PERSONA))
        logits = logits + u[D["cell_prompt"]]
    return logits


def _emission_logprobs(spec: ModelSpec, data: ModelData, D: dict):
    """log prod_m fp_m[k, y_m] of every emission unit, (units, K), and the name of the pattern -> unit index.

    Shared fingerprints: a unit is a unique emission pattern (``pattern_emission``). Condition-specific ones
    (``fingerprints.vary = "condition"``): a unit is a unique (condition, emission) pair (``pattern_ce``) and::

        log fpc_m[c, k, :] = log_softmax(log fp_m[k, :] + sd_m * z_m[c, k, :]),   sd_m ~ HalfNormal(sigma)
    """
    import pymc as pm
    import pytensor.tensor as pt

    vary = data.fingerprint_vary == "condition"
    cat = "ce_cat_" if vary else "emission_cat_"
    logf = 0.0                                                          # (units, K)
    for ms in spec.measures:
        fam = FAMILIES[ms.likelihood]
        anchors = [p.anchors[ms.name] for p in spec.personas]
        fp = fam.build(ms.name, data.patterns.grids[ms.name], anchors, spec.anchor_strength,
                       PERSONA, category_dim(ms.name))
        if vary:
            sd = pm.HalfNormal(f"fpc_{ms.name}_sd", spec.fingerprints.sigma)
            z = pm.Normal(f"fpc_{ms.name}_z", 0.0, 1.0, dims=(CONDITION, PERSONA, category_dim(ms.name)))
            lg = pt.log(fp)[None] + sd * z
            lg = lg - pt.logsumexp(lg, axis=-1, keepdims=True)                 # (C, K, categories)
            pm.Deterministic(f"fpc_{ms.name}", pt.exp(lg), dims=(CONDITION, PERSONA, category_dim(ms.name)))
            logf = logf + lg.dimshuffle(0, 2, 1)[D["ce_condition"], D[f"{cat}{ms.name}"]]
        else:
            logf = logf + pt.log(fp).T[D[f"{cat}{ms.name}"]]
    if data.verdict_levels is not None:
        fv = pm.Dirichlet("fp_verdict", a=_verdict_alpha(spec, data.verdict_levels), dims=(PERSONA, "verdict"))
        logf = logf + pt.log(fv).T[D[f"{cat}verdict"]]
    return logf, ("pattern_ce" if vary else "pattern_emission")


def build_model(spec: ModelSpec, patterns: Patterns, *, rows: bool = False, data: ModelData | None = None):
    """The PyMC model of ``spec`` on ``patterns``; returns ``(model, ModelData)``.

    ``rows=True`` builds the reference implementation instead: the same parameters and priors, but one likelihood
    term per answer (patterns expanded by their counts) in plain PyTensor ops. Only for benchmarks and checks.

    Free variables: ``logodds_mu`` (persona_free), ``sigma_<level>`` per hierarchy level and ``sigma_condition``,
    ``eta_<level>`` / ``eta_condition`` (centred) or ``z_<level>`` / ``z_condition`` (non-centred) over the groups
    that have an effect of their own (:attr:`ModelData.free_groups`), ``beta_condition`` (condition_coef,
    persona_free) and ``changepoint_<effect>`` (a change-point effect's location in [0, 1]) when the spec has
    condition effects, ``gamma_free`` (coef, persona_free), ``gamma_interaction_free`` (interaction, persona_free)
    with ``[prompt] interactions``, ``sigma_question`` / ``u_raw``
    (persona_free, prompt), the fingerprint variables of each measure's family. Deterministics with full persona
    axes: ``eta`` (condition, persona), ``gamma`` (coef, persona), ``gamma_interaction`` (interaction, persona),
    ``u`` (prompt, persona), ``fp_<measure>``
    (persona, <measure>_bin) and ``fp_verdict`` when verdicts exist.

    One persona (K = 1): only the fingerprints are free; ``eta`` is a constant 0 (every share is 1). Fingerprints
    that vary by condition (``[fingerprints] vary = "condition"``) add ``fpc_<measure>_sd``, ``fpc_<measure>_z``
    (condition, persona, <measure>_bin) and the deterministic ``fpc_<measure>`` (see :func:`_emission_logprobs`).
    A degradation spec (``[model] kind = "degradation"``) builds :func:`simstats.degradation.build_degradation`.
    """
    import pymc as pm
    import pytensor.tensor as pt

    data = model_data(spec, patterns) if data is None else data
    if spec.kind == "degradation":
        from simstats.degradation import build_degradation

        return build_degradation(spec, data, rows=rows), data
    with pm.Model(coords=data.coords) as model:
        # Index arrays enter as data (shared variables), not constants: compiled functions then hold no data and
        # the on-disk numba cache serves any data set with the same model structure.
        D = {n: pm.Data(n, v) for n, v in data_arrays(data).items()}
        logits = _persona_logits(spec, data, D)
        logw = logits - pt.logsumexp(logits, axis=1, keepdims=True)       # (cells, K)
        logf, unit = _emission_logprobs(spec, data, D)
        if rows:
            row_cell = np.repeat(data.pattern_cell, data.count)
            row_emis = np.repeat(getattr(data, unit), data.count)
            pm.Potential("loglik", pt.sum(pt.logsumexp(logw[row_cell] + logf[row_emis], axis=1)))
        else:
            ll = pattern_mixture_loglik(logw, logf, D["pattern_cell"], D[unit], D["count"])
            pm.Potential("loglik", ll)
    return model, data


# ------------------------------------------------------------------------------- NumPy functions of posterior draws
def _post(posterior, name: str) -> np.ndarray | None:
    return np.asarray(posterior[name]) if name in posterior else None


def cell_log_weights(posterior, data: ModelData) -> np.ndarray:
    """log P(persona | cell) for every draw: (chain, draw, cell, K) from ``eta``, ``gamma``, ``gamma_interaction``
    and ``u`` draws (the NumPy mirror of the model's log-odds: shares, threshold rates and LOO use it).

    ``posterior`` is anything indexable by variable name giving (chain, draw, ...) arrays (a DataTree node, a
    Dataset or a dict).
    """
    eta = np.asarray(posterior["eta"])
    logits = eta[..., data.cell_condition, :]
    gamma = _post(posterior, "gamma")
    if gamma is not None:
        logits = logits + np.einsum("nf,...fk->...nk", data.cell_x, gamma)
    gamma_i = _post(posterior, "gamma_interaction")
    if gamma_i is not None and data.interaction_coefs:
        logits = logits + np.einsum("nf,...fk->...nk", data.cell_xi, gamma_i)
    u = _post(posterior, "u")
    if u is not None:
        logits = logits + u[..., data.cell_prompt, :]
    m = logits.max(-1, keepdims=True)
    return logits - (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))


def fingerprint_tables(posterior, data: ModelData, measure: str) -> np.ndarray:
    """Each condition's fingerprint of ``measure``: (chain, draw, condition, K, categories). Shared fingerprints
    (``fp_<measure>``) are repeated over the conditions; condition-specific ones are ``fpc_<measure>``."""
    if f"fpc_{measure}" in posterior:
        return np.asarray(posterior[f"fpc_{measure}"])
    fp = np.asarray(posterior[f"fp_{measure}"])
    return np.broadcast_to(fp[..., None, :, :], (*fp.shape[:-2], len(data.conditions), *fp.shape[-2:]))


def pattern_log_emissions(posterior, data: ModelData) -> np.ndarray:
    """log prod_m fp_m[k, y_m] per draw and pattern: (chain, draw, pattern, K) (the pattern's condition's
    fingerprints when they vary by condition)."""
    out = 0.0
    for m, cat in data.pattern_cat.items():
        if f"fpc_{m}" in posterior:        # (…, C, K, cat) -> (…, C, cat, K), then one (condition, category) each
            tab = np.swapaxes(np.asarray(posterior[f"fpc_{m}"]), -1, -2)
            out = out + np.log(tab[..., data.pattern_condition, cat, :])
        else:
            out = out + np.log(np.swapaxes(np.asarray(posterior[f"fp_{m}"]), -1, -2)[..., cat, :])
    if data.pattern_verdict is not None:
        out = out + np.log(np.swapaxes(np.asarray(posterior["fp_verdict"]), -1, -2)[..., data.pattern_verdict, :])
    return out


def pattern_log_likelihood(posterior, data: ModelData) -> np.ndarray:
    """Log-likelihood of ONE answer of each pattern for every draw: (chain, draw, pattern).

    Weight by ``data.count`` for totals (``(ll * count).sum(-1)`` is the model's log-likelihood). A degradation
    model's is :func:`simstats.degradation.pattern_log_likelihood`.
    """
    if data.kind == "degradation":
        from simstats.degradation import pattern_log_likelihood as degradation_ll

        return degradation_ll(posterior, data)
    lp = cell_log_weights(posterior, data)[..., data.pattern_cell, :] + pattern_log_emissions(posterior, data)
    m = lp.max(-1, keepdims=True)
    return (m + np.log(np.exp(lp - m).sum(-1, keepdims=True)))[..., 0]


def feature_shares(posterior, data: ModelData, feature: str) -> np.ndarray:
    """Persona shares of each condition at each level of a prompt feature, over that condition's prompts with the
    level: (chain, draw, condition, level, K) in ``data.feature_levels[feature]`` order (reference first), NaN
    where a condition has no answer at a level. share[c, v, k] = sum_{cells of (c, v)} n_cell P(k | cell) / n_cv.
    """
    w = np.exp(cell_log_weights(posterior, data))
    levels = data.feature_levels[feature]
    lv = data.cells[feature].astype(str).map({v: i for i, v in enumerate(levels)}).to_numpy()
    C, L = len(data.conditions), len(levels)
    agg = np.zeros((C * L, len(data.cell_condition)))
    agg[data.cell_condition * L + lv, np.arange(len(lv))] = data.cell_count
    n = agg.sum(1, keepdims=True)
    with np.errstate(invalid="ignore"):
        out = np.einsum("gn,...nk->...gk", agg / np.where(n > 0, n, np.nan), w)
    return out.reshape(*out.shape[:-2], C, L, out.shape[-1])


def condition_shares(posterior, data: ModelData) -> np.ndarray:
    """Persona shares of each condition over its own prompt mix: (chain, draw, condition, K).

    share[c, k] = sum_{cells of c} n_cell P(k | cell) / n_c.
    """
    w = np.exp(cell_log_weights(posterior, data))
    C = len(data.conditions)
    onehot = np.zeros((C, len(data.cell_condition)))
    onehot[data.cell_condition, np.arange(len(data.cell_condition))] = data.cell_count
    onehot /= onehot.sum(1, keepdims=True)
    return np.einsum("cn,...nk->...ck", onehot, w)


__all__ = [
    "COEF",
    "CONDITION",
    "LEVEL",
    "PERSONA",
    "PERSONA_FREE",
    "PROMPT",
    "ModelData",
    "build_model",
    "category_dim",
    "cell_log_weights",
    "condition_shares",
    "feature_shares",
    "step",
    "adaptive_centring",
    "data_arrays",
    "fingerprint_tables",
    "model_data",
    "pattern_log_emissions",
    "pattern_log_likelihood",
    "question_effect",
]
