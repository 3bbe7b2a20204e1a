"""The generative process of the persona mixture, for recovery tests and posterior predictive checks.

For each cell (condition, question, prompt features) with ``n`` answers::

    z ~ Categorical(softmax(eta[c] + x(q) . gamma + u[q]))      one persona per answer
    y_m | z ~ Categorical(fp_m[z])   for every measure m       (category 0 = no score, b + 1 = bin b)

Simulation is exact and fast at any size: persona counts per cell are one multinomial draw and the joint category
counts per (cell, persona) another, so 10^7 answers cost the same as 10^3.

>>> from simstats.spec import load_spec                       # doctest: +SKIP
>>> pats, truth = simulate_log(load_spec("models/persona_mixture.toml"), n_conditions=4, seed=0)  # doctest: +SKIP
>>> pats.n_answers                                            # doctest: +SKIP
4800
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simstats.likelihoods import anchor_profile
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.patterns import Accounting, Patterns
from simstats.spec import ModelSpec


@dataclass
class Truth:
    """Known parameters of a simulated log (persona axis last, reference persona's log-odds 0)."""

    eta: np.ndarray                      # (C, K) persona log-odds per condition (at reference features, mean question)
    gamma: np.ndarray                    # (F, K) feature coefficients (column 0 zero)
    u: np.ndarray                        # (Q, K) question effects (zero-sum over questions, column 0 zero)
    fingerprints: dict[str, np.ndarray]  # measure -> (K, 1 + n_bins)
    cells: pd.DataFrame                  # condition, prompt, features..., count
    coefs: list[str]

    def cell_weights(self) -> np.ndarray:
        """P(persona | cell): (n_cells, K)."""
        ci = self.cells["_c"].to_numpy()
        qi = self.cells["_q"].to_numpy()
        x = self.cells[[f"_x{i}" for i in range(len(self.coefs))]].to_numpy(float)
        lg = self.eta[ci] + x @ self.gamma + self.u[qi]
        lg = lg - lg.max(1, keepdims=True)
        w = np.exp(lg)
        return w / w.sum(1, keepdims=True)

    def condition_shares(self) -> np.ndarray:
        """Persona shares of each condition over its own prompt mix: (C, K)."""
        w = self.cell_weights() * self.cells["count"].to_numpy()[:, None]
        C = self.eta.shape[0]
        out = np.zeros((C, w.shape[1]))
        np.add.at(out, self.cells["_c"].to_numpy(), w)
        return out / out.sum(1, keepdims=True)


def default_fingerprints(spec: ModelSpec, grids: dict[str, Grid], spread: float = 40.0) -> dict[str, np.ndarray]:
    """Each persona's fingerprint: its anchor's ``no_score`` rate and a Beta bump of concentration ``spread`` at
    the anchor's mean (sharper than the prior's bump, like the real fingerprints)."""
    return {ms.name: np.stack([anchor_profile(grids[ms.name], p.anchors[ms.name].mean, p.anchors[ms.name].no_score,
                                              spread) for p in spec.personas]) for ms in spec.measures}


def simulate_log(spec: ModelSpec, *, n_conditions: int = 6, n_prompts: int = 8,
                 features: dict[str, list[str]] | None = None, answers_per_cell: int = 50,
                 eta: np.ndarray | None = None, fingerprints: dict[str, np.ndarray] | None = None,
                 prompt_sd: float = 0.5, coef_sd: float = 0.5, n_bins: int = 10,
                 seed: int | None = None) -> tuple[Patterns, Truth]:
    """Simulate a log from the model: returns the :class:`Patterns` and the :class:`Truth` behind them.

    Conditions ``c0..``, prompts ``q0..``; every (condition, prompt, feature combination) cell gets
    ``answers_per_cell`` answers. ``eta`` (C, K) defaults to draws from Normal(persona prior mean, 1) for the
    non-reference personas. Question effects are zero-sum Normal(0, ``prompt_sd``); feature coefficients
    Normal(0, ``coef_sd``), 0 for the first level of each feature (its reference).
    """
    rng = np.random.default_rng(seed)
    K = len(spec.personas)
    features = {"format": ["plain", "json"]} if features is None else features
    grids = {m: Grid(0.0, 100.0, n_bins) for m in spec.measure_names}
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

    # joint category table per persona: outer product over measures
    measures = spec.measure_names
    joint = np.ones((K, 1))
    for m in measures:
        joint = (joint[:, :, None] * fps[m][:, None, :]).reshape(K, -1)
    shape = [fps[m].shape[1] for m in measures]
    w = truth.cell_weights()
    rows = []
    for i, n in enumerate(grid_f["count"].to_numpy()):
        nz = rng.multinomial(n, w[i])
        tot = np.zeros(joint.shape[1], dtype=np.int64)
        for k in np.nonzero(nz)[0]:
            tot += rng.multinomial(nz[k], joint[k])
        nzj = np.nonzero(tot)[0]
        rows.append((np.full(len(nzj), i), nzj, tot[nzj]))
    ci = np.concatenate([r[0] for r in rows])
    ji = np.concatenate([r[1] for r in rows])
    cnt = np.concatenate([r[2] for r in rows])
    cats = np.unravel_index(ji, shape)
    t = grid_f.iloc[ci][["condition", "prompt", *features]].reset_index(drop=True)
    for m, c in zip(measures, cats):
        t[m] = np.where(c == 0, MISSING_BIN, c - 1).astype(np.int16)
    t["count"] = cnt.astype(np.int64)
    acc = Accounting(rows_read=int(cnt.sum()), rows_used=int(cnt.sum()))
    return Patterns(t, grids, measures, list(features), [], None, acc), truth


# ------------------------------------------------------------------------------------ posterior predictive checks
def _edge_index(grid: Grid, x: float) -> int:
    i = np.flatnonzero(np.isclose(grid.edges, x))
    if not len(i):
        raise ValueError(f"threshold {x} is not a bin edge of {grid} (edges {grid.edges.tolist()})")
    return int(i[0])


def threshold_masks(grids: dict[str, Grid], below: dict[str, float], above: dict[str, float]) -> dict[str, np.ndarray]:
    """Per measure, a boolean mask over categories (no_score first) selecting ``score < t`` / ``score > t``.

    A missing score satisfies neither (as with NaN in the papers' rule). Thresholds must be bin edges; ``> t`` is
    taken as ``>= t`` (a score exactly at the edge has probability zero for probability-weighted means).
    """
    masks = {}
    for m, t in below.items():
        i = _edge_index(grids[m], t)
        masks[m] = np.concatenate([[False], np.arange(grids[m].n_bins) < i])
    for m, t in above.items():
        i = _edge_index(grids[m], t)
        mk = np.concatenate([[False], np.arange(grids[m].n_bins) >= i])
        masks[m] = masks[m] & mk if m in masks else mk
    return masks


def empirical_threshold_rate(patterns: Patterns, below: dict[str, float] | None = None,
                             above: dict[str, float] | None = None) -> pd.Series:
    """Observed rate per condition of the rule (default: aligned < 30 and coherent > 50)."""
    below = {"aligned": 30.0} if below is None else below
    above = {"coherent": 50.0} if above is None else above
    masks = threshold_masks(patterns.grids, below, above)
    t = patterns.table
    hit = np.ones(len(t), bool)
    for m, mk in masks.items():
        cat = np.where(t[m].to_numpy() == MISSING_BIN, 0, t[m].to_numpy() + 1)
        hit &= mk[cat]
    c = t["count"].to_numpy()
    return (pd.Series(hit * c).groupby(t["condition"].to_numpy()).sum()
            / pd.Series(c).groupby(t["condition"].to_numpy()).sum())


def predictive_threshold_rate(posterior, data, below: dict[str, float] | None = None,
                              above: dict[str, float] | None = None, replicate: bool = True,
                              seed: int | None = None) -> np.ndarray:
    """Posterior predictive rate of the rule per condition: (chain, draw, condition).

    rate_c = sum_cells n_cell / n_c * sum_k P(k | cell) prod_m P_k(rule on m); with ``replicate`` each draw is a
    replicated log of the condition's size (Binomial noise), so intervals are comparable with the observed rate.
    """
    from simstats.builders import cell_log_weights

    below = {"aligned": 30.0} if below is None else below
    above = {"coherent": 50.0} if above is None else above
    masks = threshold_masks(data.patterns.grids, below, above)
    w = np.exp(cell_log_weights(posterior, data))                  # (ch, dr, cells, K)
    pk = 1.0
    for m, mk in masks.items():
        pk = pk * np.asarray(posterior[f"fp_{m}"])[..., mk].sum(-1)  # (ch, dr, K)
    cell_rate = (w * pk[..., None, :]).sum(-1)                      # (ch, dr, cells)
    C = len(data.conditions)
    agg = np.zeros((C, len(data.cell_count)))
    agg[data.cell_condition, np.arange(len(data.cell_count))] = data.cell_count
    n_c = agg.sum(1)
    rate = np.einsum("cn,...n->...c", agg / n_c[:, None], cell_rate)
    if replicate:
        rng = np.random.default_rng(seed)
        rate = rng.binomial(n_c.astype(np.int64), np.clip(rate, 0, 1)) / n_c
    return rate


__all__ = ["Truth", "default_fingerprints", "empirical_threshold_rate", "predictive_threshold_rate",
           "simulate_log", "threshold_masks"]
