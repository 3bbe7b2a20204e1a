"""Is the inference right? Interval coverage and simulation-based calibration (Talts et al. 2018) of a spec.

Each replication draws every parameter from the spec's prior (the PyMC model's own prior, so nothing is assumed
that the fit does not assume), simulates a log of a fixed design from those parameters, fits it with the compiled
model (:class:`~simstats.refit.Refitter`) and records, for every scalar quantity of interest,

- the rank of the true value among ``L`` posterior draws thinned from the chains (uniform on 0..L if the posterior
  is calibrated), and
- whether the central 50% and 90% posterior intervals cover it (averaged over the prior, a calibrated posterior
  covers with exactly the nominal probability).

Quantities, in groups: persona shares per condition (over its own prompt mix), fingerprint mean score and no-score
rate per persona and measure, hierarchy sds, population log-odds, question-effect sd, feature effects, condition
effects. Every replication is kept, converged or not (dropping failed fits would bias both checks); the tables
report how many fits failed their diagnostics.

>>> from simstats.spec import load_spec                                        # doctest: +SKIP
>>> study = CalibrationStudy(load_spec("models/persona_mixture.toml"), small_design())   # doctest: +SKIP
>>> records = study.run(20, seed=1)                                            # doctest: +SKIP
>>> coverage_table(records)                                                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simstats.graph.design import ModelData
from simstats.kinds.mixture.tables import condition_shares
from simstats.logs.grid import MISSING_BIN
from simstats.logs.patterns import Accounting, Patterns
from simstats.spec import ModelSpec


@dataclass(frozen=True)
class StudyDesign:
    """The fixed design of every replicated log: conditions (optionally in groups), questions x formats, answers
    per (condition, question, format) cell."""

    name: str
    n_conditions: int
    n_questions: int
    answers_per_cell: int
    groups: tuple[int, ...] = ()          # conditions per group of one hierarchy level above them (empty: none)
    formats: tuple[str, ...] = ("plain", "json")

    @property
    def n_answers(self) -> int:
        return self.n_conditions * self.n_questions * len(self.formats) * self.answers_per_cell


def small_design() -> StudyDesign:
    """3 conditions x (4 questions x 2 formats) x 20 answers = 480 answers."""
    return StudyDesign("small", 3, 4, 20)


def realistic_design() -> StudyDesign:
    """10 conditions in 3 base models x (12 questions x 2 formats) x 50 answers = 12,000 answers."""
    return StudyDesign("realistic", 10, 12, 50, groups=(4, 3, 3))


def template_patterns(spec: ModelSpec, design: StudyDesign) -> Patterns:
    """A pattern table of the design (its counts are placeholders; replications replace them)."""
    from simstats.validation.quick import simulate_log

    pats, _ = simulate_log(spec, n_conditions=design.n_conditions, n_prompts=design.n_questions,
                           features={"format": list(design.formats)}, answers_per_cell=design.answers_per_cell,
                           seed=0)
    if design.groups:
        if sum(design.groups) != design.n_conditions:
            raise ValueError(f"groups {design.groups} do not add up to {design.n_conditions} conditions")
        base = np.repeat([f"b{i}" for i in range(len(design.groups))], design.groups)
        pats.table["base_model"] = pats.table["condition"].map(dict(zip(
            [f"c{i}" for i in range(design.n_conditions)], base)))
        pats.condition_levels = ["base_model"]
    return pats


def simulate_from_draw(data: ModelData, draw: dict[str, np.ndarray], rng: np.random.Generator,
                       spec: ModelSpec | None = None) -> Patterns:
    """A log of ``data``'s design (same cells and answers per cell) from one set of parameter values, drawn by the
    simulators' shared process from the kind's forward model (``spec``: default a persona mixture, whose ``draw``
    holds ``eta`` (C, K), ``fp_<measure>`` (K, 1 + bins) and, when the model has them, ``gamma`` and ``u``)."""
    from simstats.kinds import kind_of, mixture
    from simstats.validation.draw import draw_pattern_counts

    kind = mixture.KIND if spec is None else kind_of(spec)
    em = kind.emissions(draw, spec, data)
    measures = data.measures
    ci, cats, cnt = draw_pattern_counts(em, data.cell_count, measures, rng)
    t = data.cells.drop(columns="count").iloc[ci].reset_index(drop=True)
    tmpl = data.patterns
    per_cond = tmpl.table.drop_duplicates("condition").set_index("condition")
    for lev in tmpl.condition_levels:
        t[lev] = t["condition"].map(per_cond[lev])
    for m, c in zip(measures, cats):
        t[m] = np.where(c == 0, MISSING_BIN, c - 1).astype(np.int16)
    t["count"] = cnt.astype(np.int64)
    n = int(cnt.sum())
    return Patterns(t, tmpl.grids, list(measures), list(tmpl.features), list(tmpl.condition_levels), None,
                    Accounting(rows_read=n, rows_used=n))


def quantities(post, data: ModelData) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Scalar quantities checked, by group: ``(values (..., n), labels)``; ``post`` maps names to (chain, draw, ...)
    arrays (a posterior group, or a prior draw with two leading axes of length 1)."""
    def get(name):
        return np.asarray(post[name]) if name in post else None

    lead = np.asarray(post["eta"]).shape[:2]
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    sh = condition_shares(post, data)
    out["persona shares"] = (sh.reshape(*lead, -1), [f"{c}/{k}" for c in data.conditions for k in data.personas])
    means, nos, labels = [], [], []
    for m in data.measures:
        fp = np.asarray(post[f"fp_{m}"])
        centres = data.patterns.grids[m].centres
        means.append((fp[..., 1:] * centres).sum(-1) / fp[..., 1:].sum(-1))
        nos.append(fp[..., 0])
        labels += [f"{k}/{m}" for k in data.personas]
    out["fingerprint mean score"] = (np.concatenate(means, -1), labels)
    out["fingerprint no-score rate"] = (np.concatenate(nos, -1), labels)
    free = data.personas[1:]
    sig = [(lev, get(f"sigma_{lev}")) for lev in [*data.levels, "condition"]]
    sig = [(lev, s) for lev, s in sig if s is not None]
    if sig:
        out["hierarchy sds"] = (np.concatenate([s for _, s in sig], -1), [f"{lev}/{k}" for lev, _ in sig for k in free])
    out["population log-odds"] = (get("logodds_mu"), list(free))
    if get("sigma_question") is not None:
        out["question sd"] = (get("sigma_question"), list(free))
    if get("gamma_free") is not None:
        g = get("gamma_free")
        out["feature effects"] = (g.reshape(*lead, -1), [f"{c}/{k}" for c in data.coefs for k in free])
    if get("beta_condition") is not None:
        b = get("beta_condition")
        out["condition effects"] = (b.reshape(*lead, -1), [f"{c}/{k}" for c in data.condition_coefs for k in free])
    if get("gamma_interaction_free") is not None:
        g = get("gamma_interaction_free")
        out["interaction effects"] = (g.reshape(*lead, -1),
                                      [f"{c}/{k}" for c in data.interaction_coefs for k in free])
    cps = [n for n in data.condition_steps if get(f"changepoint_{n}") is not None]
    if cps:
        out["change-points"] = (np.stack([get(f"changepoint_{n}") for n in cps], -1), cps)
    return out


class CalibrationStudy:
    """Replications of prior draw -> simulated log -> fit, for one spec and design.

    By default every log is fitted by one compiled model at fixed settings (``draws`` / ``tune`` / ``chains`` /
    ``target_accept``, no divergence ladder): fast, and the SBC ranks then come from a fixed number of draws. With
    ``user_defaults=True`` each log is fitted the way a user's ``simstats fit`` fits it (the spec's ``[sampler]``:
    sampled to the gate, the divergence ladder with its funnel rung), compiling for each log: the calibration of
    what users get, at a compile per replication."""

    def __init__(self, spec: ModelSpec, design: StudyDesign, *, draws: int = 1000, tune: int = 1000,
                 chains: int = 4, target_accept: float | None = None, n_ranks: int = 99,
                 user_defaults: bool = False) -> None:
        from simstats.inference.refit import Refitter

        self.spec, self.design, self.n_ranks, self.user_defaults = spec, design, n_ranks, user_defaults
        self.template = template_patterns(spec, design)
        self.refitter = Refitter(spec, self.template, draws=draws, tune=tune, chains=chains,
                                 target_accept=target_accept)
        self.data = self.refitter.data

    def prior_draws(self, n: int, seed: int) -> list[dict[str, np.ndarray]]:
        """``n`` draws of every parameter from the model's prior (PyMC's prior sampler; the likelihood is the only
        ``Potential`` and does not enter)."""
        import pymc as pm

        model = self.refitter.model
        names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
        with model:
            prior = pm.sample_prior_predictive(draws=n, var_names=names, random_seed=seed).prior
        return [{k: np.asarray(prior[k])[0, i] for k in names} for i in range(n)]

    def replicate(self, i: int, draw: dict[str, np.ndarray], seed: int) -> pd.DataFrame:
        """One replication: simulate from ``draw``, fit, and one record per scalar quantity."""
        rng = np.random.default_rng(seed)
        pats = simulate_from_draw(self.data, draw, rng, self.spec)
        t0 = time.perf_counter()
        if self.user_defaults:
            import warnings

            from simstats.inference import fit

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)     # the status is recorded, not warned
                out = fit(self.spec, pats, seed=seed, progress=False)
        else:
            out = self.refitter.fit(pats, seed=seed)
        secs = time.perf_counter() - t0
        fitted = {"parametrization": out.spec.hierarchy.parametrization,
                  "draws": int(out.idata["posterior"].sizes["draw"]), "ladder": len(out.settings.get("ladder") or [])}
        post = out.idata["posterior"]
        est = quantities({k: np.asarray(post[k]) for k in post.data_vars}, out.data)
        truth = quantities({k: np.asarray(v)[None, None] for k, v in draw.items()}, out.data)
        rows = []
        for group, (vals, labels) in est.items():
            flat = vals.reshape(-1, vals.shape[-1])                 # (chains * draws, n)
            thin = flat[np.linspace(0, len(flat) - 1, self.n_ranks).round().astype(int)]
            true = truth[group][0].reshape(-1)
            q = np.quantile(flat, [0.05, 0.25, 0.75, 0.95], axis=0)
            for j, lab in enumerate(labels):
                rows.append({"replication": i, "group": group, "quantity": lab, "truth": true[j],
                             "mean": flat[:, j].mean(), "sd": flat[:, j].std(),
                             "rank": int((thin[:, j] < true[j]).sum()),
                             "in50": bool(q[1, j] <= true[j] <= q[2, j]), "in90": bool(q[0, j] <= true[j] <= q[3, j]),
                             "status": out.diagnostics.status, "max_rhat": out.diagnostics.max_rhat,
                             "divergences": out.diagnostics.divergences, "seconds": secs, **fitted})
        return pd.DataFrame(rows)

    def run(self, n: int, seed: int = 0, progress: Callable[[str], None] | None = print) -> pd.DataFrame:
        """``n`` replications; one line of progress per fit."""
        draws = self.prior_draws(n, seed)
        seeds = np.random.SeedSequence(seed).generate_state(n)
        recs = []
        for i, d in enumerate(draws):
            r = self.replicate(i, d, int(seeds[i]))
            recs.append(r)
            if progress:
                progress(f"[{self.design.name}] replication {i + 1}/{n}: {r['status'].iat[0]}, "
                         f"max R-hat {r['max_rhat'].iat[0]:.3f}, {r['divergences'].iat[0]} divergences, "
                         f"{r['seconds'].iat[0]:.0f} s")
        return pd.concat(recs, ignore_index=True)


def coverage_table(records: pd.DataFrame) -> pd.DataFrame:
    """Actual coverage of the central 50% and 90% intervals per quantity group (all replications, and converged
    fits only), with the number of replications and checks, and the binomial standard error of the 90% coverage."""
    def agg(r):
        n = len(r)
        c90 = r["in90"].mean()
        ok = r[r["status"] == "ok"]
        return pd.Series({"replications": r["replication"].nunique(), "checks": n, "cover50": r["in50"].mean(),
                          "cover90": c90, "se90": np.sqrt(0.9 * 0.1 / r["replication"].nunique()),
                          "cover90_ok_fits": ok["in90"].mean() if len(ok) else np.nan})
    return records.groupby("group", sort=False).apply(agg, include_groups=False)


def sbc_table(records: pd.DataFrame, n_ranks: int = 99, bins: int = 10) -> pd.DataFrame:
    """Uniformity of SBC ranks per quantity group: chi-square over ``bins`` equal rank bins (ranks pooled over the
    group's quantities), its p-value, and the smallest per-quantity p-value (Bonferroni-adjusted over quantities)."""
    from scipy import stats

    edges = np.linspace(0, n_ranks + 1, bins + 1)

    def chi2(ranks):
        obs = np.histogram(ranks, edges)[0]
        exp = len(ranks) / bins
        s = float(((obs - exp) ** 2 / exp).sum())
        return s, float(stats.chi2.sf(s, bins - 1))

    out = {}
    for g, r in records.groupby("group", sort=False):
        s, p = chi2(r["rank"].to_numpy())
        per = [chi2(x["rank"].to_numpy())[1] for _, x in r.groupby("quantity")]
        out[g] = {"ranks": len(r), "chi2": s, "df": bins - 1, "p": p,
                  "min_p_quantity_bonferroni": min(1.0, min(per) * len(per))}
    return pd.DataFrame(out).T


__all__ = ["CalibrationStudy", "StudyDesign", "coverage_table", "quantities", "realistic_design", "sbc_table",
           "simulate_from_draw", "small_design", "template_patterns"]
