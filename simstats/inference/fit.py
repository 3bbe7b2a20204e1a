"""Fitting a model: one :func:`fit` with a sampler switch, a start from the kind's pre-fit, and convergence checks.

>>> from simstats.spec import load_spec                                  # doctest: +SKIP
>>> out = fit(load_spec("models/persona_mixture.toml"), patterns, seed=1)  # doctest: +SKIP
>>> out.converged, out.timings["total"]                                  # doctest: +SKIP
(True, 14.2)

The kind (:func:`simstats.kinds.kind_of`) gives the design, the start values with their jitter rules and its
parametrisation choice, and the PyMC graph; the sampler runs (:mod:`simstats.inference.samplers`); the diagnostics
(:mod:`simstats.inference.diagnostics`) and the kind's own checks give one status.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simstats.errors import FitError, SimstatsError, SpecError
from simstats.graph.design import ModelData
from simstats.graph.kernel import ieee_numba
from simstats.inference.advice import advise, many_group_funnels
from simstats.inference.diagnostics import (MAX_RHAT, MIN_ESS, Diagnostics, approximate, diagnose, divergences,
                                            min_bulk_ess)
from simstats.inference.samplers import MCMC, SAMPLERS, Gate, run_sampler
from simstats.kinds import Start, kind_of
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec


def check(idata, spec: ModelSpec, data: ModelData, sampler: str, *, with_advice: bool = True) -> Diagnostics:
    """:func:`~simstats.inference.diagnostics.diagnose` (or :func:`~simstats.inference.diagnostics.approximate`)
    plus the kind's own checks (the persona mixture: do the fitted fingerprints sit at their own anchors)."""
    kind = kind_of(spec)
    post = idata["posterior"]
    sampled = kind.sampled_variables([str(v) for v in post.data_vars])
    d = diagnose(idata, var_names=sampled) if sampler in MCMC else approximate(idata, sampler)
    # the kind's checks read posterior means, which mean nothing when the chains disagree (R-hat well above 1):
    # then the advice below names the geometry instead of, say, blaming the persona names
    extra = kind.checks(post, spec, data) if not d.checked or d.max_rhat <= UNMIXED_RHAT else []
    if extra:
        d.messages.extend(extra)
        if d.status == "ok":
            d.status = "warning"
    if with_advice and d.status != "ok":
        shares = np.asarray(kind.condition_shares(post, data)).mean(axis=(0, 1)) if kind.has_personas else None
        d.advice = advise(idata, d, data, shares, names=sampled, parametrization=spec.hierarchy.parametrization)
    return d


#: R-hat above which the chains are taken to disagree, so that posterior means are not read
UNMIXED_RHAT = 1.05


@dataclass
class FitOutput:
    """What :func:`fit` returns: the posterior (``idata``) and everything needed to interpret it.

    ``patterns`` are the patterns given (``data.patterns`` those the model saw, coarsened as the spec asks); one
    fit has one data hash, that of ``patterns``."""

    idata: Any                      # xarray.DataTree: posterior (named dims), sample_stats, attrs
    spec: ModelSpec
    patterns: Patterns
    model: Any                      # the pymc.Model
    sampler: str
    timings: dict[str, float]
    data: ModelData | None = None
    diagnostics: Diagnostics | None = None
    start: Start | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.diagnostics is not None and self.diagnostics.converged

    @property
    def em(self):
        """The pre-fit the chains started from (the persona mixture: its EM result)."""
        return None if self.start is None else self.start.prefit


def seed_ints(seed: int | None, n: int) -> list[int]:
    """``n`` independent 32-bit seeds from one seed (``None``: fresh entropy)."""
    ss = np.random.SeedSequence(seed)
    return [int(x) for x in ss.generate_state(n, dtype=np.uint32)]


def stamp(idata, spec: ModelSpec, patterns: Patterns, sampler: str, seed: int | None) -> None:
    """Record the spec, the data hash, the sampler and the seed in the posterior's attributes."""
    idata.attrs.update({"simstats_spec": spec.name, "simstats_spec_hash": spec.hash(),
                        "simstats_data_hash": patterns.data_hash(), "simstats_sampler": sampler,
                        "simstats_seed": -1 if seed is None else int(seed)})


#: the runs a fit with divergent transitions is sampled again with, in turn, until one has none: smaller steps
#: (target_accept 0.99), then smaller steps after a longer warm-up (tune x 2.5) to adapt the mass matrix to the
#: ridge the divergences found. On the backdoor design (tune 400) 0.9 gave 2-100 divergences by seed; the first
#: rung cleared 3 seeds of 5, the second the other two.
LADDER = ({"target_accept": 0.99, "tune_factor": 1.0}, {"target_accept": 0.99, "tune_factor": 2.5})


#: the parametrisations the ladder's funnel rung replaces, and the form it fits instead
REPARAMETRISABLE = ("centred", "mixed")
LADDER_FORM = "adaptive"


def reparametrised(spec: ModelSpec, form: str) -> ModelSpec:
    """``spec`` with ``[hierarchy] parametrization = form`` (a new spec: its hash and saved source say so).

    >>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec
    >>> reparametrised(load_spec(DEFAULT_SPEC_PATH), "adaptive").hierarchy.parametrization
    'adaptive'
    """
    return dataclasses.replace(spec, hierarchy=dataclasses.replace(spec.hierarchy, parametrization=form))


def ladder_steps(target_accept: float, tune: int) -> list[tuple[float, int]]:
    """The (target_accept, tune) of each rung of :data:`LADDER` that is more careful than the run given.

    >>> ladder_steps(0.9, 400)
    [(0.99, 400), (0.99, 1000)]
    >>> ladder_steps(0.99, 1000)
    [(0.99, 2500)]
    """
    out = []
    for rung in LADDER:
        ta, tn = max(target_accept, rung["target_accept"]), int(round(tune * rung["tune_factor"]))
        if (ta, tn) != (target_accept, tune) and (ta, tn) not in out:
            out.append((ta, tn))
    return out


def check_settings(draws: object = None, tune: object = None, chains: object = None, seed: object = None,
                   target_accept: object = None) -> None:
    """Refuse, in one line, a sampler setting of the wrong type or range (``None``: the spec's) before any work:
    0 is not "the default", and a negative count would overflow the sampler's unsigned integers."""
    bounds = {"draws": (draws, 1, 10_000_000), "tune": (tune, 0, 10_000_000), "chains": (chains, 1, 64),
              "seed": (seed, 0, None)}
    for name, (v, lo, hi) in bounds.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo
                              or (hi is not None and v > hi)):
            raise SimstatsError(f"{name} must be a whole number " + (f"from {lo:,} to {hi:,}" if hi is not None else
                                f">= {lo}") + f", got {v!r}")
    if target_accept is not None and (isinstance(target_accept, bool) or not isinstance(target_accept, (int, float))
                                      or not 0.5 <= target_accept <= 0.999):
        raise SimstatsError(f"target_accept must be a number from 0.5 to 0.999, got {target_accept!r}")


def gate_for(spec: ModelSpec, data: ModelData, sampler: str, *, block: int, max_seconds: float = 0.0,
             progress: bool = False, stop_on_divergences: bool = True) -> Gate:
    """The convergence gate of :func:`fit`: pass when every sampled parameter has R-hat <= 1.01 and bulk and tail
    ESS >= 400; stop early on what more draws cannot mend (switched or merged personas; divergent transitions,
    which the ladder answers, unless ``stop_on_divergences`` is off: the last run, after which nothing would answer
    them, draws on to the gate and is reported with its divergences); else draw on."""

    kind = kind_of(spec)

    def verdict(idata) -> tuple[str, dict]:
        # cheap looks first: most checks end at "too few effective draws", and a full check costs seconds
        n_div = divergences(idata)
        if not (n_div and stop_on_divergences):
            names = kind.sampled_variables([str(v) for v in idata["posterior"].data_vars])
            ess, worst = min_bulk_ess(idata, names)
            if ess < MIN_ESS:
                return "continue", {"max_rhat": None, "min_ess_bulk": ess, "min_ess_tail": None,
                                    "divergences": 0, "worst": {"ess_bulk": worst}}
        d = check(idata, spec, data, sampler, with_advice=False)     # a look on the way: the fit's last check advises
        summary = {"max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail,
                   "divergences": int(d.divergences), "worst": dict(d.worst)}
        if (d.divergences and stop_on_divergences) or d.label_switching or d.merged:
            return "stop", summary
        if d.max_rhat <= MAX_RHAT and min(d.min_ess_bulk, d.min_ess_tail) >= MIN_ESS:
            return "pass", summary
        return "continue", summary

    def on_check(n: int, verdict: str, s: dict) -> None:
        what = {"pass": "gate passed", "stop": "stopped", "continue": "drawing on"}[verdict]
        if s["max_rhat"] is None:
            seen = f"min bulk ESS {s['min_ess_bulk']:.0f} < {MIN_ESS} ({s['worst']['ess_bulk']})"
        else:
            seen = (f"max R-hat {s['max_rhat']:.3f} ({s['worst'].get('rhat', '')}), min bulk ESS "
                    f"{s['min_ess_bulk']:.0f}, min tail ESS {s['min_ess_tail']:.0f}, {s['divergences']} divergences")
        print(f"{n} draws per chain: {seen}: {what}", flush=True)

    return Gate(block=block, verdict=verdict, max_seconds=max_seconds, on_check=on_check if progress else None)


def fit(spec: ModelSpec, patterns: Patterns, *, sampler: str | None = None, draws: int | None = None,
        tune: int | None = None, chains: int | None = None, seed: int | None = None, progress: bool = True,
        target_accept: float | None = None, backend: str = "numba", require_convergence: bool = False,
        em_iter: int = 500, adaptation: str = "low_rank", ladder: bool = True,
        until: str | None = None) -> FitOutput:
    """Fit ``spec`` to ``patterns`` and check convergence.

    ``sampler`` is one of ``nutpie`` (default from the spec), ``pymc``, ``numpyro``, ``blackjax``, ``advi``,
    ``pathfinder``; ``draws`` / ``tune`` / ``chains`` / ``target_accept`` default to the spec's ``[sampler]``;
    ``seed`` makes draws reproducible; ``backend`` is the nutpie compile backend (``numba`` or ``jax``).

    ``until`` (default: the spec's, ``"gate"``): with ``"gate"`` and nutpie, ``draws`` is a budget per chain and
    sampling stops, after warm-up, at the first block of the spec's ``block`` draws per chain at which every
    parameter passes the gate (:func:`gate_for`); ``out.settings["gate"]`` records each check and why sampling
    stopped. Giving ``draws`` forces exactly that many (``until="draws"``) unless ``until="gate"`` is also given.

    With ``ladder`` (the default), an MCMC fit with divergent transitions is run again with each more careful
    setting of :data:`LADDER` until one run has none; when the first run's divergences sit at the neck of a funnel
    at a level of many groups (:func:`~simstats.inference.advice.many_group_funnels`) and the spec's form is one of
    :data:`REPARAMETRISABLE`, the first rung fits :data:`LADDER_FORM` instead, at the same settings, and ``out.spec``
    is that spec. Every step is kept in ``out.settings["ladder"]`` (the settings, parametrisation, divergences and
    status of each run given up, and what was changed next) and the last run is returned.

    A fit that fails the checks (R-hat > 1.01, ESS < 400, divergences, label switching, merged personas) is never
    silently returned as a result: it raises :class:`FitError` with ``require_convergence=True``, else it warns and
    ``out.converged`` is ``False``. Approximations (advi, pathfinder) are always ``converged = False``.
    """
    check_settings(draws, tune, chains, seed, target_accept)
    t_start = time.perf_counter()
    ieee_numba()                  # same seed, same draws whatever the state of the compile cache
    s = spec.sampler
    sampler = sampler or s.name
    if sampler not in SAMPLERS:
        raise SpecError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if until is None:
        until = "draws" if draws is not None else s.until
    if until not in ("gate", "draws"):
        raise SimstatsError(f"until must be 'gate' or 'draws', got {until!r}")
    draws, tune, chains = draws or s.draws, s.tune if tune is None else tune, chains or s.chains
    target_accept = target_accept or s.target_accept
    kind = kind_of(spec)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    data = kind.design(spec, patterns)
    start = kind.start(spec, data, em_iter=em_iter)
    timings["init"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = kind.build(spec, data, centring=start.centring)
    timings["build"] = time.perf_counter() - t0

    rungs = ladder_steps(target_accept, tune) if ladder and sampler in MCMC else []

    def gate(last: bool) -> Gate | None:
        return (gate_for(spec, data, sampler, block=min(s.block, draws), max_seconds=s.max_seconds,
                         progress=progress, stop_on_divergences=not last)
                if until == "gate" and sampler == "nutpie" else None)

    gates: list[dict] = []
    compiled: dict = {}                  # one compile for every run of the ladder
    seeds = seed_ints(seed, 3)
    idata, t = run_sampler(sampler, model, start, draws=draws, tune=tune, chains=chains, seed=seeds[1],
                           rng=np.random.default_rng(seeds[0]), progress=progress, target_accept=target_accept,
                           backend=backend, adaptation=adaptation, gate=gate(not rungs), compiled=compiled)
    if "gate" in t:
        gates.append(t.pop("gate"))
    timings.update(t)

    t0 = time.perf_counter()
    diag = check(idata, spec, data, sampler)
    timings["diagnostics"] = time.perf_counter() - t0
    steps: list[dict[str, Any]] = []
    rung_seeds = seed_ints(seeds[2], len(rungs) + 1)
    pending: list[tuple[float, int, str | None]] = [(ta, tn, None) for ta, tn in rungs]
    # a funnel at a well-filled level (many groups, each with too little data) is the centred form's: the first
    # rung then fits the adaptive form (centred only where the EM start expects answers enough) at the same
    # settings, before any smaller steps, which a funnel's neck defeats
    if (pending and diag.divergences and kind.reparametrises
            and spec.hierarchy.parametrization in REPARAMETRISABLE
            and (funnel := many_group_funnels(idata, diag, data, kind.sampled_variables(
                [str(v) for v in idata["posterior"].data_vars])))):
        pending.insert(0, (target_accept, tune, f"a funnel at {', '.join(funnel)}"))
    for rung_seed in rung_seeds:
        if diag.divergences == 0 or not pending:
            break
        higher, longer, funnel_seen = pending.pop(0)
        change = (f"sampling again with parametrization = \"{LADDER_FORM}\" ({funnel_seen})" if funnel_seen else
                  f"sampling again at {higher}, tune {longer}")
        steps.append({"target_accept": target_accept, "tune": tune, "divergences": int(diag.divergences),
                      "status": diag.status, "summary": diag.summary(), "parametrization":
                      spec.hierarchy.parametrization, "draws": int(idata["posterior"].sizes["draw"]),
                      "then": change})
        if funnel_seen:
            spec = reparametrised(spec, LADDER_FORM)
            start = kind.start(spec, data, em_iter=em_iter)
            t0 = time.perf_counter()
            model = kind.build(spec, data, centring=start.centring)
            timings["build"] += time.perf_counter() - t0
            compiled = {}
        if progress:
            print(f"{diag.divergences} divergent transitions at target_accept {target_accept}, tune {tune}: "
                  f"{change}", flush=True)
        target_accept, tune = higher, longer
        idata, t = run_sampler(sampler, model, start, draws=draws, tune=tune, chains=chains, seed=rung_seed,
                               rng=np.random.default_rng(seeds[0]), progress=progress, target_accept=target_accept,
                               backend=backend, adaptation=adaptation, gate=gate(not pending),
                               compiled=compiled)
        if "gate" in t:
            gates.append(t.pop("gate"))
        for k, v in t.items():
            timings[k] = timings.get(k, 0.0) + v
        t0 = time.perf_counter()
        diag = check(idata, spec, data, sampler)
        timings["diagnostics"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    stamp(idata, spec, patterns, sampler, seed)
    out = FitOutput(idata, spec, patterns, model, sampler, timings, data, diag, start,
                    {"draws": int(idata["posterior"].sizes["draw"]), "tune": tune, "chains": chains, "seed": seed,
                     "target_accept": target_accept, "backend": backend, "ladder": steps, "until": "gate" if gates else "draws",
                     "budget": draws if gates else None, "gate": gates[-1] if gates else None})
    if sampler in MCMC and not diag.converged:
        msg = f"fit with {sampler} did not converge: {diag.summary()}"
        if require_convergence:
            raise FitError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return out


__all__ = ["LADDER", "LADDER_FORM", "REPARAMETRISABLE", "FitOutput", "check", "fit", "gate_for", "ladder_steps",
           "reparametrised", "seed_ints", "stamp"]
