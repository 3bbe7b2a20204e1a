"""The classic rate model as a one-call fit: :func:`fit_rate_model` counts a thresholded behaviour per condition and
fits the hierarchical binomial of :mod:`simstats.kinds.rates` through :func:`simstats.inference.fit`, like any
spec; :class:`RateModelResult` holds its per-condition table (pooled, empirical and unpooled Jeffreys rates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import DataError, FitError
from simstats.inference.diagnostics import Diagnostics
from simstats.kinds.base import PROB
from simstats.kinds.rates import jeffreys_interval, rate_table
from simstats.kinds.rates import threshold_counts as _counts
from simstats.logs.patterns import Patterns
from simstats.results.fit_result import FitResult
from simstats.spec import ModelSpec, spec_from_dict
from simstats.theory.rules import Behaviour


@dataclass
class RateModelResult:
    """A fitted rate model.

    ``table``: one row per condition with the hierarchy columns, ``n``, ``k``, the empirical ``rate``, the posterior
    ``mean`` rate with its ``low``/``high`` interval (``prob`` mass, equal-tailed), the unpooled Jeffreys interval
    ``jeffreys_low``/``jeffreys_high`` and the ``shrinkage``; ``idata`` the ArviZ DataTree (posterior ``mu``,
    ``sd_<level>``, ``z_<level>``, ``theta``, ``rate``; ``log_likelihood`` of each binomial count ``k``);
    ``diagnostics`` R-hat, ESS and divergences; ``fit`` the underlying :class:`~simstats.results.FitResult`.
    """

    table: pd.DataFrame
    idata: Any
    diagnostics: Diagnostics
    rule: Behaviour
    levels: list[str]
    prob: float = PROB
    by_prompt: bool = False
    cell_counts: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    fit: FitResult | None = None

    @property
    def conditions(self) -> list[str]:
        return list(self.table.index)

    def rate_draws(self) -> np.ndarray:
        """(chain, draw, condition) posterior draws of each condition's rate."""
        return np.asarray(self.idata["posterior"]["rate"])

    def summary(self) -> str:
        """One line: the rule, the hierarchy and the diagnostics."""
        h = " -> ".join(self.levels + ["condition"])
        return f"rate of {self.rule.describe()} ({h}, {len(self.table)} conditions): {self.diagnostics.summary()}"

    def _repr_html_(self) -> str:
        cols = ["n", "k", "rate", "mean", "low", "high", "jeffreys_low", "jeffreys_high"]
        # The summary names the rule and the condition levels (column names from the user's file): escaped.
        return (f"<p>{escape(self.summary())}</p>"
                + self.table[cols].to_html(float_format=lambda v: f"{v:.4f}", escape=True))


def declared_behaviour(patterns: Patterns) -> Behaviour:
    """The first thresholded behaviour the log's roles declare (the EM roles: "aligned < 30 and coherent > 50")."""
    if not patterns.behaviours:
        raise DataError("the log's roles declare no thresholded behaviour to count; declare one (roles file "
                        "[behaviours], or --behaviour 'name: rule')")
    name, rule = next(iter(patterns.behaviours.items()))
    return Behaviour.parse(name, rule)


def threshold_counts(patterns: Patterns, rule: Behaviour | None = None, *, by_prompt: bool = False) -> pd.DataFrame:
    """Per condition (or per condition and prompt): ``n`` answers and ``k`` that meet the rule (default the first
    behaviour the roles declare),
    with the hierarchy columns and the empirical ``rate = k / n``. **The denominator ``n`` is every used answer of
    the condition**: an answer with an empty score stays in ``n`` and is never a hit.

    >>> from simstats.datasets import load_dataset
    >>> c = threshold_counts(load_dataset().patterns)
    >>> int(c["n"].sum()), int(c.loc["Qwen2.5-Coder-32B-Instruct/none/base", "k"])
    (20880, 0)
    """
    return _counts(patterns, rule or declared_behaviour(patterns), by_prompt=by_prompt)


#: the rate model's budget of draws per chain when sampling to the gate: on the bundled log its base-model sd needs
#: about 1,100 draws per chain to reach a bulk ESS of 400 (388 at 1,000)
GATE_BUDGET = 3000


def rate_spec(rule: Behaviour, patterns: Patterns, *, by_prompt: bool = False,
              mu_prior: tuple[float, float] = (0.0, 2.5), sd_scale: float = 1.5, draws: int = 1000,
              tune: int = 1000, chains: int = 4, target_accept: float = 0.95) -> ModelSpec:
    """The rate model of ``rule`` as a spec (``[model] kind = "rates"``) on the measures and levels of ``patterns``."""
    return spec_from_dict({
        "model": {"name": "rate_model", "kind": "rates",
                  "description": f"hierarchical binomial of the rate of {rule.describe()}"},
        "measures": {m: {"likelihood": "categorical", "bins": "data"} for m in rule.measures},
        "hierarchy": {"levels": "data", "sigma": sd_scale, "parametrization": "noncentred"},
        "prompt": {"question_effect": "none", "features": []},
        "behaviours": {rule.name: {"rule": rule.describe(), "description": rule.description}},
        "rates": {"behaviour": rule.name, "logodds": {"mean": float(mu_prior[0]), "sd": float(mu_prior[1])},
                  "by_prompt": by_prompt},
        "sampler": {"name": "nutpie", "draws": draws, "tune": tune, "chains": chains,
                    "target_accept": target_accept},
    }, source="<rate model>")


def fit_rate_model(patterns: Patterns, rule: Behaviour | None = None, *, by_prompt: bool = False,
                   draws: int | None = None, tune: int = 1000, chains: int = 4, seed: int | None = None,
                   prob: float = PROB, mu_prior: tuple[float, float] = (0.0, 2.5), sd_scale: float = 1.5,
                   target_accept: float = 0.95, progress: bool = False,
                   log_likelihood: bool = True) -> RateModelResult:
    """Fit the hierarchical binomial rate model (:mod:`simstats.kinds.rates`) with nutpie and summarise it per
    condition.

    ``patterns``: the exact sufficient statistics of a log (``LogSet.patterns()``); its ``condition_levels``
    (coarsest first) are the hierarchy. ``rule``: the thresholded behaviour counted (default the first the roles
    declare, for EM logs ``aligned < 30 and coherent > 50``; the denominator is every used answer). Priors: ``mu ~ Normal(*mu_prior)`` on
    the log-odds scale, each level's ``sd ~ HalfNormal(sd_scale)``. ``seed`` makes the fit reproducible.
    Sampling stops at the convergence gate within :data:`GATE_BUDGET` draws per chain; ``draws`` forces exactly
    that many.

    Raises :class:`~simstats.errors.DataError` when a measure of the rule is missing.

    >>> from simstats.datasets import load_dataset
    >>> r = fit_rate_model(load_dataset().patterns, seed=1)   # doctest: +SKIP
    >>> r.summary()                                          # doctest: +SKIP
    'rate of aligned < 30 and coherent > 50 (base_model -> finetune -> condition, 18 conditions): ok: ...'
    """
    from simstats import inference

    rule = rule or declared_behaviour(patterns)
    counts = threshold_counts(patterns, rule)          # checks the measures first: a clear error before any import
    spec = rate_spec(rule, patterns, by_prompt=by_prompt, mu_prior=mu_prior, sd_scale=sd_scale,
                     draws=GATE_BUDGET if draws is None else draws, tune=tune, chains=chains,
                     target_accept=target_accept)
    out = inference.fit(spec, patterns, seed=seed, progress=progress, until="gate" if draws is None else "draws")
    result = FitResult(out.idata, spec, patterns, out.sampler, dict(out.timings), {"seed": seed})
    result.__dict__["diagnostics"] = out.diagnostics
    rate = np.asarray(out.idata["posterior"]["rate"])
    if not np.all(np.isfinite(rate)):
        raise FitError("the rate model produced non-finite rates")
    cells = threshold_counts(patterns, rule, by_prompt=True) if by_prompt else None
    if log_likelihood:
        _add_log_likelihood(out.idata, counts, cells)
    out.idata.attrs.update({"simstats_model": "rate_model", "simstats_rule": rule.describe(),
                            "simstats_by_prompt": int(by_prompt)})
    return RateModelResult(rate_table(result, prob), out.idata, out.diagnostics, rule, list(out.data.levels), prob,
                           by_prompt, cells, dict(out.timings), result)


def _add_log_likelihood(idata, counts: pd.DataFrame, cells: pd.DataFrame | None) -> None:
    """Pointwise log-likelihood of each observed binomial count (per condition, or per cell with ``by_prompt``)."""
    import xarray as xr
    from scipy.stats import binom

    post = idata["posterior"]
    if cells is None:
        ll = binom.logpmf(counts["k"].to_numpy(), counts["n"].to_numpy(), np.asarray(post["rate"]))
        da = xr.DataArray(ll, dims=("chain", "draw", "condition"),
                          coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                  "condition": post["condition"].values})
    else:
        theta = np.asarray(post["theta"])
        conds, prompts = list(post["condition"].values), list(post["prompt"].values)
        ci = pd.Index(conds).get_indexer(cells.index.get_level_values("condition").astype(str))
        pi = pd.Index(prompts).get_indexer(cells.index.get_level_values("prompt").astype(str))
        lo = theta[..., ci] + np.asarray(post["sd_prompt"])[..., None] * np.asarray(post["z_prompt"])[..., pi] + \
            np.asarray(post["sd_cell"])[..., None] * np.asarray(post["z_cell"])
        ll = binom.logpmf(cells["k"].to_numpy(), cells["n"].to_numpy(), 1 / (1 + np.exp(-lo)))
        da = xr.DataArray(ll, dims=("chain", "draw", "cell"),
                          coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                  "cell": post["cell"].values})
    idata["log_likelihood"] = xr.Dataset({"k": da})


__all__ = ["RateModelResult", "fit_rate_model", "jeffreys_interval", "rate_spec", "threshold_counts"]
