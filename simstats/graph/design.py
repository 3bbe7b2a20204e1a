"""The design of a model on a log: index arrays that tie the pattern table to the model's parameters (NumPy, no
PyMC), built once from a spec and the patterns and never changed afterwards.

A *cell* is a unique (condition, prompt, prompt features); a *pattern* a unique (cell, measurement pattern) with its
count of answers; an *emission pattern* a unique measurement pattern (across cells), the unit on which shared
fingerprints are evaluated. What a spec asks for and the data cannot support is left out with a note in
:attr:`ModelData.notes` (so one spec serves many logs).

>>> from simstats.datasets import load_dataset
>>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec
>>> data = model_data(load_spec(DEFAULT_SPEC_PATH), load_dataset().patterns)
>>> len(data.conditions), len(data.cell_count), len(data.count), len(data.emission_cat["aligned"])
(18, 432, 3769, 89)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simstats.errors import SpecError
from simstats.families.fingerprints import category_index, category_labels
from simstats.graph import hierarchy as H
from simstats.graph.names import (
    COEF,
    CONDITION,
    CONDITION_COEF,
    INTERACTION,
    LEVEL,
    PERSONA,
    PERSONA_FREE,
    PROMPT,
    category_dim,
)
from simstats.graph.terms import condition_design, feature_design, interaction_design
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec


@dataclass(frozen=True)
class ModelData:
    """Index arrays that tie the pattern table to the model's parameters (all NumPy, no PyMC). Immutable."""

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
    condition_coefs: list[str] = field(default_factory=list)   # condition effects that entered the model
    condition_x: np.ndarray | None = None       # (C, n_condition_coefs) their design
    notes: list[str] = field(default_factory=list)   # what the spec asked for and the data could not support
    fingerprint_vary: str = "shared"            # the spec's fingerprints.vary ("shared" | "condition")
    measure_likelihood: dict[str, str] = field(default_factory=dict)   # measure -> its likelihood family
    pattern_ce: np.ndarray | None = None        # (n_patterns,) index of the pattern's (condition, emission) pair
    ce_condition: np.ndarray | None = None      # (CE,) condition of each (condition, emission) pair
    ce_cat: dict[str, np.ndarray] = field(default_factory=dict)  # measure/"verdict" -> (CE,) categories
    interaction_coefs: list[str] = field(default_factory=list)  # "feature[v]:column[w]" (prompt.interactions)
    cell_xi: np.ndarray | None = None           # (n_cells, n_interaction_coefs) 0/1 design of those
    interaction_sd: np.ndarray | None = None    # (n_interaction_coefs,) prior sd of each
    #: whether each condition gets a deviation of its own around its group (False when the population mean and the
    #: condition effects already give every condition its own value: one condition, or one effect per condition)
    condition_level: bool = True
    condition_steps: dict[str, tuple[int, float]] = field(default_factory=dict)   # changepoint effect ->
    #                                             (its column of condition_x, which holds the rescaled dose; width)

    @property
    def pattern_condition(self) -> np.ndarray:
        """(n_patterns,) condition index of each pattern."""
        return self.cell_condition[self.pattern_cell]

    @property
    def free_groups(self) -> list[list[str]]:
        """Per hierarchy level, the groups with an effect of their own (single-child groups hand theirs down)."""
        return H.free_groups(self.level_groups, self.level_scale)

    def free_group_index(self, i: int) -> np.ndarray:
        """(C,) index of each condition's level-``i`` group among :attr:`free_groups` (-1: a handed-down one)."""
        return H.free_group_index(self.level_index[i], self.level_scale[i])

    @property
    def measures(self) -> list[str]:
        return list(self.pattern_cat)

    def category_cols(self) -> dict[str, np.ndarray]:
        """Per measure (and ``verdict`` when the log has verdicts), each pattern's category."""
        cats = dict(self.pattern_cat)
        if self.pattern_verdict is not None:
            cats["verdict"] = self.pattern_verdict
        return cats

    def condition_mix(self) -> np.ndarray:
        """(C, n_cells): each condition's share of its answers in each cell (rows sum to 1), the weights of a
        condition's own prompt mix."""
        mix = np.zeros((len(self.conditions), len(self.cell_condition)))
        mix[self.cell_condition, np.arange(len(self.cell_condition))] = self.cell_count
        return mix / mix.sum(1, keepdims=True)

    def feature_mix(self, feature: str) -> np.ndarray:
        """(C * L, n_cells): the prompt mix of each (condition, level of ``feature``) pair, rows in condition-major
        order over ``feature_levels[feature]`` (reference first); a row of NaN where a condition has no answer at
        that level."""
        levels = self.feature_levels[feature]
        lv = self.cells[feature].astype(str).map({v: i for i, v in enumerate(levels)}).to_numpy()
        L = len(levels)
        mix = np.zeros((len(self.conditions) * L, len(self.cell_condition)))
        mix[self.cell_condition * L + lv, np.arange(len(lv))] = self.cell_count
        n = mix.sum(1, keepdims=True)
        with np.errstate(invalid="ignore"):
            return mix / np.where(n > 0, n, np.nan)

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


def coarsen(spec: ModelSpec, patterns: Patterns) -> Patterns:
    """The patterns on the spec's bins (each measure's ``bins`` must divide the data grid's)."""
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


def _unique_rows(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of the stacked columns and each row's index among them."""
    uniq, inv = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
    return uniq, inv.reshape(-1).astype(np.int64)


def check_anchor_ranges(spec: ModelSpec, grids: dict) -> None:
    """Refuse a persona anchor outside its measure's range (a score's mean outside the grid's [lower, upper], a
    binary outcome's probability outside [0, 1]): the prior would be clipped to the edge without a word, and such
    a number is a typo (``mean = 900`` for 90) more often than a wish.

    >>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec
    >>> from simstats.logs.grid import Grid
    >>> check_anchor_ranges(load_spec(DEFAULT_SPEC_PATH), {"coherent": Grid(0, 10, 10)})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simstats.errors.SpecError: ...persona_mixture.toml: persona 'aligned': anchors.coherent.mean = 92 is outside the measure's range 0 to 10 (the data's grid)
    """
    for persona in spec.personas:
        for m, a in persona.anchors.items():
            grid = grids.get(m)
            if grid is None or a.mean is None:
                continue
            lo, hi = (0.0, 1.0) if grid.is_levels else (grid.lower, grid.upper)
            if not lo <= a.mean <= hi:
                what = "a probability, 0 to 1" if grid.is_levels else f"the measure's range {lo:g} to {hi:g}"
                raise SpecError(f"{spec.source}: persona {persona.name!r}: anchors.{m}.mean = {a.mean:g} is outside "
                                f"{what} (the data's grid)")


def model_data(spec: ModelSpec, patterns: Patterns, *, observed: bool = True) -> ModelData:
    """Coarsen ``patterns`` as the spec asks and build the index arrays of the model; ``observed=False`` for a
    design skeleton (a simulator's template) whose patterns are placeholders, not answers."""
    p = coarsen(spec, patterns)
    t = p.table
    if t.empty or p.n_answers == 0:
        raise SpecError("the pattern table is empty: nothing to fit")
    src = spec.source
    check_anchor_ranges(spec, p.grids)
    feats = list(p.features) if spec.prompt.features is None else list(spec.prompt.features)
    for f in feats:
        if f not in t.columns:
            raise SpecError(f"{src}: prompt feature {f!r} is not a column of the data (features: {p.features})")
    levels = list(p.condition_levels) if spec.hierarchy.levels is None else list(spec.hierarchy.levels)
    for lev in levels:
        if lev not in t.columns:
            raise SpecError(f"{src}: hierarchy level {lev!r} is not a column of the data "
                            f"(levels: {p.condition_levels})")
        if t.groupby("condition")[lev].nunique().max() > 1:
            raise SpecError(f"hierarchy level {lev!r} is not constant within a condition")
    conditions = sorted(t["condition"].astype(str).unique().tolist())
    prompts = sorted(t["prompt"].astype(str).unique().tolist())
    cond_idx = {c: i for i, c in enumerate(conditions)}

    per_cond = t.drop_duplicates("condition").set_index("condition")
    groups, index = H.level_groups(per_cond, levels, spec.hierarchy.structure, conditions)
    condition_coefs, condition_x, notes, steps = condition_design(spec, per_cond, t, conditions)
    levels, groups, index, dropped = H.identified_levels(levels, groups, index, condition_x)
    for lev, n in dropped:
        notes.append(f"hierarchy level {lev!r} left out: its {n} group(s) are already told apart by the population "
                     "mean" + (f" and the condition effects ({', '.join(condition_coefs)})" if condition_coefs else "")
                     + ", so its sd would be identified by its prior alone")
    level_scale, condition_scale = H.collapse_single_child_groups(spec.hierarchy.structure, index,
                                                                  [len(g) for g in groups], len(conditions))

    cell_keys = ["condition", "prompt", *feats]
    cells = t.groupby(cell_keys, observed=True, sort=True)["count"].sum().reset_index()
    inter, cell_xi, inter_sd, inter_notes = interaction_design(spec, cells, per_cond, feats)
    notes += inter_notes
    interacted = {x.feature for x in spec.prompt.interactions} & {n.split("[")[0] for n in inter}
    coefs, feature_levels, cell_x = feature_design(spec, cells, feats, interacted)
    cell_id = pd.MultiIndex.from_frame(cells[cell_keys].astype(str))
    pattern_cell = cell_id.get_indexer(pd.MultiIndex.from_frame(t[cell_keys].astype(str))).astype(np.int64)

    verdict_levels = pattern_verdict = None
    if "verdict" in t.columns and p.verdict_levels:
        verdict_levels = list(p.verdict_levels)
        pattern_verdict = np.array([verdict_levels.index(v) for v in t["verdict"].astype(str)], dtype=np.int64)

    if spec.personas and len(spec.personas) == 1 and condition_coefs:
        notes.append(f"condition effects {condition_coefs} left out: with one persona there are no persona "
                     "log-odds for them to move")
        condition_coefs, condition_x, steps = [], np.zeros((len(conditions), 0)), {}
    condition_level = H.condition_level_identified(len(conditions), condition_x)
    if not condition_level:
        notes.append(("the condition level left out: " + (
            "with one condition its deviation from the population mean" if len(conditions) == 1 else
            f"the condition effects ({', '.join(condition_coefs)}) already give each of the {len(conditions)} "
            "conditions its own value, so their deviations") + " and sigma_condition would be identified by their "
            "prior alone (a funnel the sampler diverges in)"))
    pattern_cat = {m: category_index(t[m].to_numpy()) for m in spec.measure_names}
    # emission patterns (shared fingerprints) and (condition, emission) pairs (fingerprints varying by condition)
    cols, names = list(pattern_cat.values()), list(pattern_cat)
    if pattern_verdict is not None:
        cols, names = [*cols, pattern_verdict], [*names, "verdict"]
    uniq, pattern_emission = _unique_rows(cols)
    possible = int(np.prod([len(category_labels(p.grids[m])) for m in spec.measure_names]))
    if pattern_verdict is not None:
        possible *= len(verdict_levels)
    notes += _identifiability(spec, possible, len(uniq) if observed else possible, names)
    notes += transfer_notes(spec, verdict_levels)
    cell_condition = cells["condition"].astype(str).map(cond_idx).to_numpy(np.int64)
    uniq_ce, pattern_ce = _unique_rows([cell_condition[pattern_cell], *cols])
    return ModelData(
        personas=spec.persona_names, conditions=conditions, prompts=prompts, coefs=coefs, levels=levels,
        level_groups=groups, level_index=index, level_scale=level_scale, condition_scale=condition_scale,
        cell_condition=cell_condition,
        cell_prompt=cells["prompt"].astype(str).map({q: i for i, q in enumerate(prompts)}).to_numpy(np.int64),
        cell_x=cell_x, cell_count=cells["count"].to_numpy(np.int64), pattern_cell=pattern_cell,
        pattern_cat=pattern_cat, count=t["count"].to_numpy(np.int64), patterns=p, cells=cells,
        verdict_levels=verdict_levels, pattern_verdict=pattern_verdict, feature_levels=feature_levels,
        pattern_emission=pattern_emission, emission_cat={n: uniq[:, i].astype(np.int64) for i, n in enumerate(names)},
        condition_coefs=condition_coefs, condition_x=condition_x, notes=notes,
        fingerprint_vary=spec.fingerprints.vary, measure_likelihood={m.name: m.likelihood for m in spec.measures},
        pattern_ce=pattern_ce, ce_condition=uniq_ce[:, 0].astype(np.int64),
        ce_cat={n: uniq_ce[:, i + 1].astype(np.int64) for i, n in enumerate(names)},
        interaction_coefs=inter, cell_xi=cell_xi, interaction_sd=inter_sd, condition_steps=steps,
        condition_level=condition_level)


def _all_transferred(spec: ModelSpec, measures: list[str]) -> bool:
    return all(m in spec.fingerprints.transfer for m in measures)


def transfer_notes(spec: ModelSpec, verdict_levels: list[str] | None) -> list[str]:
    """What the report says of fingerprints brought from an earlier fit (``[fingerprints] transfer``)."""
    tr, src = spec.fingerprints.transfer, spec.fingerprints.source
    if not tr:
        return []
    modes = sorted({t["mode"] for t in tr.values()})
    how = {"prior": "as priors matched to its posterior", "fixed": "held fixed at its posterior mean"}
    out = [f"fingerprints of {', '.join(sorted(tr))} from an earlier fit"
           + (f" ({src.get('spec_name', '?')}, data {src.get('data_hash', '?')[:12]})" if src else "")
           + ", " + " and ".join(how[m] for m in modes)]
    if verdict_levels and "verdict" not in tr:
        out.append("verdict fingerprints keep their anchored prior: the earlier fit had other verdict levels")
    return out


def _identifiability(spec: ModelSpec, possible: int, observed: int, measures: list[str]) -> list[str]:
    """Refuse, before anything is sampled, personas the measurements cannot tell apart: with ``J`` possible
    measurement patterns each persona's fingerprint has ``J - 1`` free probabilities and a cell's answers give
    ``J - 1`` numbers, so ``J <= K`` patterns cannot separate ``K`` personas (one binary measure and two personas,
    say) whatever the data. When the log shows only ``J <= K`` of the possible patterns, or has a single measure,
    the personas are told apart only by their anchors' priors and by how shares vary between cells: a warning and a
    note say so."""
    import warnings

    K = len(spec.personas)
    if K < 2 or _all_transferred(spec, measures):
        return []             # fingerprints brought from an earlier fit: the shares are all there is to learn
    described = ", ".join(measures)
    if possible <= K:
        raise SpecError(f"{spec.source}: {K} personas cannot be told apart by {described}: an answer can only "
                        f"show one of {possible} measurement patterns, so at most {possible - 1} personas' "
                        "fingerprints are identified; use fewer personas or add measures")
    msgs = []
    if observed <= K:
        msgs.append(f"the log shows only {observed} distinct measurement patterns ({described}) for {K} personas: "
                    "their fingerprints rest on the anchors' priors; expect wide intervals")
    elif len(measures) == 1:
        msgs.append(f"one measure ({described}) for {K} personas: their fingerprints are identified only through "
                    "how the personas' shares differ between conditions and prompts; expect wide intervals (more "
                    "measures help)")
    for msg in msgs:
        warnings.warn(msg, UserWarning, stacklevel=4)
    return msgs


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


__all__ = ["ModelData", "coarsen", "data_arrays", "model_data", "transfer_notes"]
