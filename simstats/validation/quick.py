"""A quick simulator for recovery tests: a pattern-level log of the persona mixture with explicit parameters
(:func:`simulate_log`), and the posterior predictive rate of a behaviour beside its observed rate.

For each cell (condition, question, prompt features) with ``n`` answers::

    z ~ Categorical(softmax(eta[c] + x(q) . gamma + u[q]))      one persona per answer
    y_m | z ~ Categorical(fp_m[z])   for every measure m       (category 0 = no score, b + 1 = bin b)

drawn by the simulators' shared process (:mod:`simstats.validation.draw`), so 10^7 answers cost the same as 10^3.

>>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec
>>> pats, truth = simulate_log(load_spec(DEFAULT_SPEC_PATH), n_conditions=4, seed=0)
>>> pats.n_answers
3200
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simstats.families.fingerprints import anchor_profile
from simstats.graph.design import ModelData
from simstats.kinds import kind_of, mixture
from simstats.kinds.base import Emissions, behaviour_rate_draws
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.patterns import Accounting, Patterns
from simstats.presets import EM_MISALIGNED
from simstats.spec import ModelSpec
from simstats.theory import formalism
from simstats.theory.rules import Behaviour, Clause
from simstats.validation.draw import draw_pattern_counts


@dataclass
class Truth:
    """Known parameters of a simulated log (persona axis last, reference persona's log-odds 0)."""

    eta: np.ndarray                      # (C, K) persona log-odds per condition (at reference features, mean question)
    gamma: np.ndarray                    # (F, K) feature coefficients (column 0 zero)
    u: np.ndarray                        # (Q, K) question effects (zero-sum over questions, column 0 zero)
    fingerprints: dict[str, np.ndarray]  # measure -> (K, 1 + n_bins)
    cells: pd.DataFrame                  # condition, prompt, features..., count
    coefs: list[str]

    def cell_log_weights(self) -> np.ndarray:
        """log P(persona | cell): (n_cells, K), Bayes' rule with the prompt as evidence."""
        x = self.cells[[f"_x{i}" for i in range(len(self.coefs))]].to_numpy(float)
        evidence = formalism.context_evidence(x, self.gamma, self.u[self.cells["_q"].to_numpy()])
        return formalism.persona_log_posterior(self.eta[self.cells["_c"].to_numpy()], evidence)

    def cell_weights(self) -> np.ndarray:
        """P(persona | cell): (n_cells, K)."""
        return np.exp(self.cell_log_weights())

    def condition_shares(self) -> np.ndarray:
        """Persona shares of each condition over its own prompt mix: (C, K)."""
        C = self.eta.shape[0]
        mix = np.zeros((C, len(self.cells)))
        mix[self.cells["_c"].to_numpy(), np.arange(len(self.cells))] = self.cells["count"].to_numpy()
        return formalism.persona_marginal(self.cell_weights(), mix / mix.sum(1, keepdims=True))


def default_fingerprints(spec: ModelSpec, grids: dict[str, Grid], spread: float = 40.0) -> dict[str, np.ndarray]:
    """Each persona's fingerprint: its anchor's ``no_score`` rate and a Beta bump of concentration ``spread`` at
    the anchor's mean (sharper than the prior's bump, like the real fingerprints); on an outcome's levels, the
    anchor's level probabilities."""
    return {ms.name: np.stack([anchor_profile(grids[ms.name], p.anchors[ms.name].mean, p.anchors[ms.name].no_score,
                                              spread, levels=p.anchors[ms.name].levels) for p in spec.personas])
            for ms in spec.measures}


def simulate_log(spec: ModelSpec, *, n_conditions: int = 6, n_prompts: int = 8,
                 features: dict[str, list[str]] | None = None, answers_per_cell: int = 50,
                 eta: np.ndarray | None = None, fingerprints: dict[str, np.ndarray] | None = None,
                 prompt_sd: float = 0.5, coef_sd: float = 0.5, n_bins: int = 10,
                 grids: dict[str, Grid] | None = None, seed: int | None = None) -> tuple[Patterns, Truth]:
    """Simulate a log from the model: returns the :class:`Patterns` and the :class:`Truth` behind them.

    Conditions ``c0..``, prompts ``q0..``; every (condition, prompt, feature combination) cell gets
    ``answers_per_cell`` answers. ``eta`` (C, K) defaults to draws from Normal(persona prior mean, 1) for the
    non-reference personas. Question effects are zero-sum Normal(0, ``prompt_sd``); feature coefficients
    Normal(0, ``coef_sd``), 0 for the first level of each feature (its reference). ``grids``: a measure's
    categories (e.g. a binary or categorical outcome's levels, ``Measure.grid`` of its roles); the others are
    0-100 scores in ``n_bins`` bins.
    """
    rng = np.random.default_rng(seed)
    K = len(spec.personas)
    features = {"format": ["plain", "json"]} if features is None else features
    grids = {m: (grids or {}).get(m) or Grid(0.0, 100.0, n_bins) for m in spec.measure_names}
    fps = default_fingerprints(spec, grids) if fingerprints is None else fingerprints
    conds = [f"c{i}" for i in range(n_conditions)]
    prompts = [f"q{i}" for i in range(n_prompts)]
    if eta is None:
        mu = np.array([0.0] + [p.logodds[0] for p in spec.personas[1:]])
        eta = mu + np.concatenate([np.zeros((n_conditions, 1)), rng.normal(0, 1, (n_conditions, K - 1))], 1)
    eta = np.asarray(eta, float)
    coefs = [f"{f}[{v}]" for f, lv in features.items() for v in lv[1:]]
    gamma = np.concatenate([np.zeros((len(coefs), 1)), rng.normal(0, coef_sd, (len(coefs), K - 1))], 1)
    u = rng.normal(0, prompt_sd, (n_prompts, K))
    u -= u.mean(0, keepdims=True)
    u[:, 0] = 0.0

    grid_f = pd.MultiIndex.from_product([conds, prompts, *features.values()],
                                        names=["condition", "prompt", *features]).to_frame(index=False)
    grid_f["count"] = answers_per_cell
    grid_f["_c"] = grid_f["condition"].map({c: i for i, c in enumerate(conds)})
    grid_f["_q"] = grid_f["prompt"].map({q: i for i, q in enumerate(prompts)})
    j = 0
    for f, lv in features.items():
        for v in lv[1:]:
            grid_f[f"_x{j}"] = (grid_f[f] == v).astype(float)
            j += 1
    truth = Truth(eta, gamma, u, fps, grid_f, coefs)

    measures = spec.measure_names
    shared = np.zeros(len(grid_f), np.int64)                 # every cell uses the one fingerprint table
    em = Emissions(truth.cell_log_weights(), {m: (fps[m][None], shared) for m in measures})
    ci, cats, cnt = draw_pattern_counts(em, grid_f["count"].to_numpy(), measures, rng)
    t = grid_f.iloc[ci][["condition", "prompt", *features]].reset_index(drop=True)
    for m, c in zip(measures, cats):
        t[m] = np.where(c == 0, MISSING_BIN, c - 1).astype(np.int16)
    t["count"] = cnt.astype(np.int64)
    acc = Accounting(rows_read=int(cnt.sum()), rows_used=int(cnt.sum()))
    return Patterns(t, grids, measures, list(features), [], None, acc), truth


# ------------------------------------------------------------------------------------ posterior predictive checks
def _behaviour(below: dict[str, float] | None, above: dict[str, float] | None) -> Behaviour:
    """The rule "m < t for each of ``below`` and m > t for each of ``above``" (both None: the EM preset)."""
    if below is None and above is None:
        return EM_MISALIGNED
    clauses = [Clause(m, "<", t) for m, t in (below or {}).items()] + [Clause(m, ">", t) for m, t in
                                                                       (above or {}).items()]
    return Behaviour("rule", tuple(clauses))


def empirical_threshold_rate(patterns: Patterns, below: dict[str, float] | None = None,
                             above: dict[str, float] | None = None) -> pd.Series:
    """Observed rate per condition of the rule (default: the EM preset, aligned < 30 and coherent > 50)."""
    b = _behaviour(below, above)
    t = patterns.table
    c = t["count"].to_numpy()
    hit = b.pattern_hits(t, patterns.grids)
    return (pd.Series(hit * c).groupby(t["condition"].to_numpy()).sum()
            / pd.Series(c).groupby(t["condition"].to_numpy()).sum())


def predictive_threshold_rate(posterior, data: ModelData, below: dict[str, float] | None = None,
                              above: dict[str, float] | None = None, replicate: bool = True,
                              seed: int | None = None, spec: ModelSpec | None = None) -> np.ndarray:
    """Posterior predictive rate of the rule per condition: (chain, draw, condition).

    rate_c = sum_cells n_cell / n_c * sum_k P(k | cell) prod_m P_k(rule on m) (the kind's forward model; ``spec``
    defaults to a persona mixture); with ``replicate`` each draw is a replicated log of the condition's size
    (Binomial noise), so intervals are comparable with the observed rate.
    """
    kind = mixture.KIND if spec is None else kind_of(spec)
    rate = behaviour_rate_draws(kind.emissions(posterior, spec, data), data, _behaviour(below, above))
    if replicate:
        n_c = np.bincount(data.cell_condition, data.cell_count, len(data.conditions))
        rng = np.random.default_rng(seed)
        rate = rng.binomial(n_c.astype(np.int64), np.clip(rate, 0, 1)) / n_c
    return rate


__all__ = ["Truth", "default_fingerprints", "empirical_threshold_rate", "predictive_threshold_rate", "simulate_log"]
