"""The fitted result: a fit's posterior with its spec and the patterns it was fitted to, and every table a paper
needs, computed by the model kind (:mod:`simstats.kinds`) from the posterior draws; nothing recompiles the model.

Persona models give persona shares, per-question shifts, prompt-feature, interaction and condition effects,
fingerprints and per-answer posteriors over personas; every kind gives the posterior-predictive rate of its
thresholded behaviours next to their observed rate (the spec's ``[behaviours]``), the diagnostics and a JSON report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.graph.design import ModelData
from simstats.graph.terms import ConditionEffects
from simstats.inference.diagnostics import Diagnostics
from simstats.kinds import ModelKind, kind_of
from simstats.kinds.base import PROB, empirical_behaviour_rate, interval
from simstats.logs.patterns import Patterns
from simstats.presets import threshold_rule
from simstats.spec import ModelSpec
from simstats.theory.rules import Behaviour


@dataclass
class FitResult:
    """A fitted model.

    ``idata`` is the ArviZ ``DataTree`` of the fit (posterior with named dims ``persona``, ``condition``,
    ``prompt``, ...); ``spec`` the model spec; ``patterns`` the exact sufficient statistics it was fitted to.
    """

    idata: Any
    spec: ModelSpec
    patterns: Patterns
    sampler: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ structure
    @cached_property
    def data(self) -> ModelData:
        """The model's design on the patterns (the same the fit built: it is a pure function of spec and data)."""
        return self.model_kind.design(self.spec, self.patterns)

    @property
    def model_kind(self) -> ModelKind:
        """The implementation of the spec's ``[model] kind`` (:mod:`simstats.kinds`)."""
        return kind_of(self.spec)

    @property
    def kind(self) -> str:
        """The spec's ``model.kind``: ``mixture``, ``degradation`` or ``rates``."""
        return self.spec.kind

    @property
    def posterior(self):
        return self.idata["posterior"]

    @property
    def personas(self) -> list[str]:
        return list(self.data.personas)

    @property
    def conditions(self) -> list[str]:
        return list(self.data.conditions)

    @cached_property
    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS, divergences, label switching, merged personas and the kind's checks, with one status."""
        from simstats.inference.fit import check

        return check(self.idata, self.spec, self.data, self.sampler or "nutpie")

    # ------------------------------------------------------------------ persona tables
    def share_draws(self) -> np.ndarray:
        """(chain, draw, condition, persona): each condition's persona shares over its own prompt mix."""
        return self.model_kind.share_draws(self)

    def shares(self, prob: float = PROB) -> pd.DataFrame:
        """Persona share per condition: mean and equal-tailed ``prob`` interval, indexed by (condition, persona).

        A condition's share is averaged over that condition's own mix of prompts (weighted by answers per prompt).
        """
        return self.model_kind.shares(self, prob)

    def question_shifts(self, prob: float = PROB) -> pd.DataFrame:
        """Per-question shift of each persona's log-odds (zero-sum over questions), by (prompt, persona)."""
        return self.model_kind.question_shifts(self, prob)

    def feature_effects(self, prob: float = PROB) -> pd.DataFrame:
        """Fixed effects of prompt features on the persona log-odds, by (coef, persona)."""
        return self.model_kind.feature_effects(self, prob)

    def interaction_effects(self, prob: float = PROB) -> pd.DataFrame:
        """Effects of prompt features per value of a condition column (``prompt.interactions``: a trigger that
        moves some fine-tunes only) on the persona log-odds, by (interaction ``feature[v]:column[w]``, persona)."""
        return self.model_kind.interaction_effects(self, prob)

    def feature_shares(self, feature: str, prob: float = PROB) -> pd.DataFrame:
        """Persona shares of each condition at each level of a prompt feature (e.g. with and without a trigger),
        over the condition's prompts at that level; indexed by (condition, level, persona); NaN where a condition
        has no answer at a level."""
        return self.model_kind.feature_share_table(self, feature, prob)

    def condition_effects(self, prob: float = PROB) -> pd.DataFrame:
        """Fixed effects of condition features (the spec's ``[conditions]``, e.g. fine-tuned vs base): on the persona
        log-odds against the reference persona by (effect, persona) in a persona model."""
        return self.model_kind.condition_effects(self, prob)

    def changepoints(self, prob: float = PROB) -> pd.DataFrame:
        """Location of each change-point condition effect on the data's scale of its column (mean, interval)."""
        rows = {}
        per = self.data.patterns.table.drop_duplicates("condition").set_index("condition")
        for name in self.data.condition_steps:
            col = self.spec.conditions.effects[name].column
            values = pd.Series(self.conditions) if col == "condition" else per[col].reindex(self.conditions)
            x = pd.to_numeric(values).to_numpy(float)
            tau = np.asarray(self.posterior[ConditionEffects.changepoint.format(effect=name)])
            if self.spec.conditions.effects[name].transform == "log":      # located on the log scale
                x = np.log(x)
                rows[name] = interval(np.exp(x.min() + np.ptp(x) * tau), prob)
                continue
            rows[name] = interval(x.min() + np.ptp(x) * tau, prob)
        return pd.DataFrame({k: {"mean": float(m), "low": float(lo), "high": float(hi)}
                             for k, (m, lo, hi) in rows.items()}, index=["mean", "low", "high"]).T

    def fingerprint_draws(self, measure: str) -> np.ndarray:
        """(chain, draw, persona, category) probabilities; category 0 is ``no_score``. With condition-specific
        fingerprints (``fingerprints.vary = "condition"``) these are the shared ones they vary around."""
        return self.model_kind.fingerprint_draws(self, measure)

    def fingerprints(self, prob: float = PROB) -> pd.DataFrame:
        """Each persona's fingerprint: mean score on the data's scale (given a score) and no-score rate per measure,
        and verdict rates; rows (persona, statistic)."""
        return self.model_kind.fingerprint_table(self, prob)

    def condition_distributions(self, prob: float = PROB) -> pd.DataFrame:
        """A degradation model's score distribution per condition (at the reference prompt features and the
        average question): mean and sd of each score on the data's scale given a score, and its no-score rate;
        rows (condition, statistic)."""
        return self.model_kind.condition_distributions(self, prob)

    # ------------------------------------------------------------------ contrasts and evidence
    def contrast(self, a: str, b: str, *, persona: str | None = None, behaviour: str | None = None,
                 feature: str | None = None, at: str | None = None, prob: float = PROB) -> pd.DataFrame:
        """The posterior of a difference within this fit: each persona's share (or ``persona``'s, or
        ``behaviour``'s predicted rate) in condition ``a`` minus condition ``b``; with ``feature``, between its
        values ``a`` and ``b`` within each condition; with ``at="feature=value"``, between the two conditions on
        their prompts with that value only. Columns ``mean``, ``low``, ``high``, ``p_gt_0``.

        >>> r.contrast("insecure", "secure", persona="misaligned")        # doctest: +SKIP
                        mean    low   high  p_gt_0
        persona
        misaligned     0.052  0.041  0.064    1.0
        """
        from simstats.results.contrast import contrast

        return contrast(self, a, b, persona=persona, behaviour=behaviour, feature=feature, at=at, prob=prob)

    def evidence(self, prob: float = PROB) -> pd.DataFrame:
        """Prompt-feature, interaction and condition effects as the evidence (nats) they carry for each persona
        against the reference persona (the log-likelihood ratio of the context, DESIGN section 2), by (term,
        persona); see :func:`simstats.results.contrast.evidence_table`."""
        from simstats.results.contrast import evidence_table

        return evidence_table(self, prob)

    # ------------------------------------------------------------------ behaviours
    @property
    def behaviours(self) -> tuple[Behaviour, ...]:
        """The thresholded behaviours the reports count: the spec's ``[behaviours]``, else those the data's roles
        declare (none: every persona table, and no threshold table)."""
        if self.spec.behaviours:
            return self.spec.behaviours
        declared = tuple(Behaviour.parse(n, r) for n, r in self.patterns.behaviours.items())
        return tuple(b for b in declared if set(b.measures) <= set(self.data.measures))

    def behaviour(self, name: str | None = None) -> Behaviour:
        """A behaviour of :attr:`behaviours` by name (``None``: the first)."""
        for b in self.behaviours:
            if name is None or b.name == name:
                return b
        raise SimstatsError(f"no behaviour {name!r} in this fit (behaviours: {[b.name for b in self.behaviours]})"
                            if name else "this fit counts no thresholded behaviour (declare one in [behaviours])")

    def behaviour_rate_draws(self, behaviour: Behaviour | str | None = None) -> np.ndarray:
        """(chain, draw, condition): the posterior-predictive rate of a behaviour per condition, over the
        condition's own prompt mix (measures independent given the persona; given the cell without personas)."""
        b = behaviour if isinstance(behaviour, Behaviour) else self.behaviour(behaviour)
        return self.model_kind.behaviour_rate_draws(self, b)

    def empirical_behaviour_rate(self, behaviour: Behaviour | str | None = None) -> pd.Series:
        """A behaviour's rate in the observed (binned) answers, per condition."""
        b = behaviour if isinstance(behaviour, Behaviour) else self.behaviour(behaviour)
        return empirical_behaviour_rate(self.data, b)

    def behaviour_rates(self, behaviour: Behaviour | str | None = None, prob: float = PROB) -> pd.DataFrame:
        """Posterior-predictive rate of a behaviour (mean, interval) next to its observed rate, per condition."""
        b = behaviour if isinstance(behaviour, Behaviour) else self.behaviour(behaviour)
        mean, lo, hi = interval(self.behaviour_rate_draws(b), prob)
        return pd.DataFrame({"empirical": self.empirical_behaviour_rate(b).to_numpy(), "mean": mean, "low": lo,
                             "high": hi}, index=pd.Index(self.conditions, name="condition"))

    # the names these had when the EM rule was the only one
    def threshold_rate_draws(self, aligned_below: float | None = None, coherent_above: float | None = None
                             ) -> np.ndarray:
        """:meth:`behaviour_rate_draws` of the first behaviour, or of the EM rule with these thresholds."""
        return self.behaviour_rate_draws(self._threshold(aligned_below, coherent_above))

    def empirical_threshold_rate(self, aligned_below: float | None = None, coherent_above: float | None = None
                                 ) -> pd.Series:
        """:meth:`empirical_behaviour_rate` of the first behaviour, or of the EM rule with these thresholds."""
        return self.empirical_behaviour_rate(self._threshold(aligned_below, coherent_above))

    def _threshold(self, aligned_below: float | None, coherent_above: float | None) -> Behaviour | None:
        if aligned_below is None and coherent_above is None:
            return None
        return threshold_rule(30.0 if aligned_below is None else aligned_below,
                              50.0 if coherent_above is None else coherent_above)

    def threshold_rates(self, prob: float = PROB) -> pd.DataFrame:
        """:meth:`behaviour_rates` of the first behaviour (the EM rule on EM logs)."""
        return self.behaviour_rates(None, prob)

    # ------------------------------------------------------------------ per-answer posteriors
    def pattern_responsibilities(self) -> np.ndarray:
        """(pattern, persona): posterior probability that an answer with each pattern came from each persona,
        averaged over draws (each draw's Bayes rule first, then the average)."""
        return self.model_kind.mean_responsibilities(self)

    def responsibilities(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Join the per-answer posterior over personas onto input rows (``LogSet.rows()``: condition, prompt,
        features and the measures on the data scale); returns ``rows`` with one ``p_<persona>`` column each."""
        d = self.data
        t = d.patterns.table
        keys = ["condition", "prompt", *d.feature_levels]
        look = t[keys].astype(str).copy()
        for m in d.measures:
            look[m] = t[m].to_numpy()
        if "verdict" in t.columns and d.verdict_levels:
            look["verdict"] = t["verdict"].astype(str)
        resp = self.pattern_responsibilities()
        for k, p in enumerate(self.personas):
            look[f"p_{p}"] = resp[:, k]
        q = rows[keys].astype(str).copy()
        for m in d.measures:
            g = d.patterns.grids[m]
            if g.is_levels:                       # rows hold level names
                codes = pd.Series(range(g.n_bins), index=list(g.labels))
                q[m] = rows[m].map(codes).fillna(-1).astype(np.int16).to_numpy()
            else:
                q[m] = g.bin(rows[m].to_numpy(dtype=float))
        if "verdict" in look.columns:
            q["verdict"] = rows["verdict"].astype(str) if "verdict" in rows else "scored"
        on = [c for c in look.columns if not c.startswith("p_")]
        joined = q.merge(look, on=on, how="left", validate="many_to_one")
        if joined[f"p_{self.personas[0]}"].isna().any():
            n = int(joined[f"p_{self.personas[0]}"].isna().sum())
            raise ValueError(f"{n} rows have no pattern in this fit (were they part of the fitted data?)")
        out = rows.copy()
        for p in self.personas:
            out[f"p_{p}"] = joined[f"p_{p}"].to_numpy()
        return out

    def _repr_html_(self) -> str:
        from simstats.results.html import result_html

        return result_html(self)

    # ------------------------------------------------------------------ report
    def diagnostics_dict(self) -> dict[str, Any]:
        d = self.diagnostics
        return {"max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail,
                "divergences": d.divergences, "label_switching": d.label_switching, "merged_personas": d.merged,
                "status": d.status, "messages": d.messages, "advice": d.advice,
                # runs given up for divergences before the one reported (inference.fit's ladder)
                "ladder": list(self.meta.get("ladder") or []), "sampling": self.sampling_dict()}

    def sampling_dict(self) -> dict[str, Any]:
        """How the draws were chosen: ``until`` ``"gate"`` (drawn in blocks until the convergence gate, ``stopped``
        saying why sampling ended: ``gate``, ``checks`` (divergences or switched personas), ``budget``, ``time``)
        or ``"draws"`` (a fixed count); ``draws`` per chain and the ``budget``. Empty for results saved before."""
        m, g = self.meta, self.meta.get("gate") or {}
        if "until" not in m:
            return {}
        return {"until": m["until"], "draws": m.get("drawn"), "budget": m.get("budget"),
                "stopped": g.get("stopped"), "block": g.get("block")}

    def behaviour_dicts(self, prob: float = PROB) -> dict[str, Any]:
        """The part of the JSON report every kind shares: ``{"behaviours": {name: {"rule", "rates": {condition:
        {empirical, mean, low, high}}}}}`` for every declared behaviour, and the first one's ``threshold_rule`` and
        ``threshold_rate`` (the keys of reports before behaviours were declared); empty without behaviours."""
        if not self.behaviours:
            return {}
        out: dict[str, Any] = {"behaviours": {}}
        for b in self.behaviours:
            tr = self.behaviour_rates(b, prob)
            out["behaviours"][b.name] = {"rule": b.describe(), "rates": {
                c: {"empirical": float(tr.loc[c, "empirical"]), **{k: float(tr.loc[c, k]) for k in ("mean", "low", "high")}}
                for c in self.conditions}}
        first = next(iter(out["behaviours"].values()))
        return {**out, "threshold_rule": first["rule"], "threshold_rate": first["rates"]}

    def summary_dict(self, prob: float = PROB) -> dict[str, Any]:
        """The JSON report (the kind's): diagnostics and, for a persona mixture, personas with fingerprints,
        per-condition shares, threshold rates and effects; for a degradation model per-condition score
        distributions instead of personas and shares."""
        return self.model_kind.summary(self, prob)


__all__ = ["PROB", "FitResult"]
