"""Fitting persona models: one :func:`fit` with a sampler switch, a fast EM start, and convergence checks.

>>> from simstats.spec import load_spec                                  # doctest: +SKIP
>>> out = fit(load_spec("models/persona_mixture.toml"), patterns, seed=1)  # doctest: +SKIP
>>> out.converged, out.timings["total"]                                  # doctest: +SKIP
(True, 14.2)

Start: every chain starts from the maximum a posteriori of a simpler mixture found by EM on the pattern counts
(fingerprints plus free persona weights per cell, shrunk towards the condition), mapped onto the model's parameters;
EM itself starts from the anchors, so the labels of the start are the spec's names. Only non-fingerprint parameters
are jittered across chains, so chains cannot start in different labellings; :func:`label_switching_check` still checks
that they did not end up in one.

Samplers: ``nutpie`` (default; PyTensor -> numba, or ``backend="jax"``), ``pymc`` (PyMC's NUTS, C backend with its
on-disk cache), ``numpyro`` / ``blackjax`` (through JAX, float64, chains in parallel when
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` was set before JAX started; simstats sets it on import if JAX
is not imported yet), ``advi`` and ``pathfinder`` (approximations: flagged as not converged-checked).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np

if "jax" not in sys.modules and "XLA_FLAGS" not in os.environ:  # must happen before JAX starts
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"

from simstats.builders import ModelData, adaptive_centring, build_model, model_data
from simstats.diagnostics import Diagnostics, approximate, diagnose
from simstats.errors import FitError, SpecError
from simstats.likelihoods import FAMILIES
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder")
MCMC = ("nutpie", "pymc", "numpyro", "blackjax")


# ------------------------------------------------------------------------------------------------------------ EM
@dataclass
class EMResult:
    """MAP of the simpler mixture used to start the samplers."""

    fingerprints: dict[str, np.ndarray]   # measure (or "verdict") -> (K, n_categories)
    cell_weights: np.ndarray              # (n_cells, K)
    loglik: float
    n_iter: int


def em_start(spec: ModelSpec, data: ModelData, max_iter: int = 500, tol: float = 1e-8,
             shrink: float = 10.0) -> EMResult:
    """EM for fingerprints and per-cell persona weights (shrunk by ``shrink`` pseudo-answers to the condition's).

    Fingerprint M-step is the MAP under the spec's Dirichlet anchors, so EM starts in (and keeps) the labelling of
    the anchors.
    """
    from simstats.builders import _verdict_alpha
    from simstats.likelihoods import _anchor_table

    K = len(data.personas)
    fps = {name[3:]: tab for name, tab in anchor_tables(spec, data).items()}   # start at the anchors' prior means
    prior_extra = {ms.name: spec.anchor_strength * _anchor_table(
        data.patterns.grids[ms.name], [p.anchors[ms.name] for p in spec.personas]) for ms in spec.measures}
    cats = dict(data.pattern_cat)
    if data.pattern_verdict is not None:
        prior_extra["verdict"] = _verdict_alpha(spec, data.verdict_levels) - 1.0
        cats["verdict"] = data.pattern_verdict
    n_cells, C = len(data.cell_count), len(data.conditions)
    w = np.full((n_cells, K), 1.0 / K)
    cnt = data.count.astype(float)
    prev = -np.inf
    it = 0
    ll = prev
    for it in range(1, max_iter + 1):
        logp = np.log(w[data.pattern_cell])
        for m, cat in cats.items():
            logp = logp + np.log(fps[m].T[cat])
        mx = logp.max(1, keepdims=True)
        lik = np.exp(logp - mx)
        tot = lik.sum(1, keepdims=True)
        r = lik / tot
        ll = float((cnt * (mx[:, 0] + np.log(tot[:, 0]))).sum())
        rc = r * cnt[:, None]
        for m, cat in cats.items():
            acc = np.zeros_like(fps[m])
            np.add.at(acc.T, cat, rc)
            acc += prior_extra[m]
            fps[m] = acc / acc.sum(1, keepdims=True)
        nk = np.zeros((n_cells, K))
        np.add.at(nk, data.pattern_cell, rc)
        cond = np.zeros((C, K))
        np.add.at(cond, data.cell_condition, nk)
        cond = (cond + 0.5) / (cond + 0.5).sum(1, keepdims=True)
        w = (nk + shrink * cond[data.cell_condition]) / (nk.sum(1, keepdims=True) + shrink)
        if abs(ll - prev) < tol * abs(ll):
            break
        prev = ll
    return EMResult(fps, w, ll, it)


def _solve_logits(data: ModelData, lw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of cell log-odds on condition + features (and feature x condition-column
    interactions) + (centred) question: eta, gamma (the interactions' rows after the features'), u."""
    C, Q = len(data.conditions), len(data.prompts)
    x = data.cell_x if not data.interaction_coefs else np.concatenate([data.cell_x, data.cell_xi], axis=1)
    F = x.shape[1]
    n = len(data.cell_count)
    X = np.zeros((n, C + F + Q))
    X[np.arange(n), data.cell_condition] = 1
    X[:, C:C + F] = x
    X[np.arange(n), C + F + data.cell_prompt] = 1
    X[:, C + F:] -= 1.0 / Q                     # zero-sum coding of the question effect
    sw = np.sqrt(data.cell_count.astype(float))[:, None]
    coef, *_ = np.linalg.lstsq(X * sw, lw * sw, rcond=None)
    eta, gamma, u = coef[:C], coef[C:C + F], coef[C + F:]
    return eta, gamma, u - u.mean(0, keepdims=True)


def em_condition_counts(em: EMResult, data: ModelData) -> np.ndarray:
    """(C, K): the EM start's expected number of answers of each persona per condition."""
    out = np.zeros((len(data.conditions), em.cell_weights.shape[1]))
    np.add.at(out, data.cell_condition, em.cell_weights * data.cell_count[:, None])
    return out


def initial_point(spec: ModelSpec, data: ModelData, em: EMResult) -> dict[str, np.ndarray]:
    """Values (constrained space) of every free variable of :func:`~simstats.builders.build_model` from EM.

    One persona: only the fingerprints are free. Condition-specific fingerprints start at the shared ones
    (``z = 0``, a small ``sd``).
    """
    init: dict[str, np.ndarray] = {}
    if len(data.personas) > 1:
        init.update(_logodds_start(spec, data, em))
    for ms in spec.measures:
        init.update(FAMILIES[ms.likelihood].initial_values(ms.name, data.patterns.grids[ms.name],
                                                           em.fingerprints[ms.name]))
        if data.fingerprint_vary == "condition":
            init[f"fpc_{ms.name}_sd"] = np.array(0.1)
            init[f"fpc_{ms.name}_z"] = np.zeros((len(data.conditions), *em.fingerprints[ms.name].shape))
    if "verdict" in em.fingerprints:
        init["fp_verdict"] = np.clip(em.fingerprints["verdict"], 1e-4, None)
        init["fp_verdict"] /= init["fp_verdict"].sum(1, keepdims=True)
    return init


def _logodds_start(spec: ModelSpec, data: ModelData, em: EMResult) -> dict[str, np.ndarray]:
    """Start values of the persona log-odds variables (hierarchy, condition and prompt effects) from EM's weights."""
    w = np.clip(em.cell_weights, 1e-6, None)
    lw = np.log(w[:, 1:]) - np.log(w[:, :1])
    lw = np.clip(lw, -12, 12)
    eta, gamma, u = _solve_logits(data, lw)
    init: dict[str, np.ndarray] = {}
    full_eta = eta
    if data.condition_coefs:          # least squares split: eta = mu + x_c . beta + hierarchy residual
        cx = _condition_x_start(data, eta, init)
        X = np.concatenate([np.ones((len(eta), 1)), cx], axis=1)
        coef = np.linalg.lstsq(X, eta, rcond=None)[0]
        init["beta_condition"] = coef[1:]
        eta = eta - cx @ coef[1:]
    mu = eta.mean(0)
    sd = np.maximum(eta.std(0), 0.3)
    init["logodds_mu"] = mu
    centred = spec.hierarchy.parametrization in ("centred", "mixed")
    for i, (lev, groups) in enumerate(zip(data.levels, data.free_groups)):
        init[f"sigma_{lev}"] = np.full(len(mu), 0.3)
        if not groups:
            continue
        if spec.hierarchy.parametrization == "centred":   # each free group at the mean of its conditions
            idx = data.free_group_index(i)
            means = np.stack([eta[idx == j].mean(0) for j in range(len(groups))])
            init[f"eta_{lev}"] = means if spec.hierarchy.structure == "nested" else means - mu
        else:
            init[f"z_{lev}"] = np.zeros((len(groups), len(mu)))
    init["sigma_condition"] = sd
    var = np.stack([np.full(len(mu), 0.09)] * len(data.levels) + [sd ** 2])   # (L + 1, Kf)
    if spec.hierarchy.parametrization == "adaptive":
        mask = (np.ones(full_eta.shape, bool) if data.centred_condition is None
                else np.asarray(data.centred_condition, bool))
        z = (eta - mu) / np.sqrt(data.condition_scale @ var)
        if mask.any():
            init["eta_condition_centred"] = full_eta[mask]
        if (~mask).any():
            init["z_condition_noncentred"] = z[~mask]
    elif centred:
        init["eta_condition"] = full_eta
    else:   # a condition's sd also carries the variances its single-child ancestors handed down
        init["z_condition"] = (eta - mu) / np.sqrt(data.condition_scale @ var)
    if spec.hierarchy.variance == "decomposed" and data.levels:   # the same sds as total and shares
        for lev in [*data.levels, "condition"]:
            del init[f"sigma_{lev}"]
        init["sigma_total"] = np.sqrt(var.sum(0))
        init["variance_share"] = (var / var.sum(0)).T
    if data.coefs:
        init["gamma_free"] = gamma[:len(data.coefs)]
    if data.interaction_coefs:
        init["gamma_interaction_free"] = np.clip(gamma[len(data.coefs):], -12, 12)
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        sq = np.maximum(u.std(0), 0.1)
        init["sigma_question"] = sq
        init["u_raw"] = (u / sq).T
    return init


def _condition_x_start(data: ModelData, eta: np.ndarray, init: dict[str, np.ndarray]) -> np.ndarray:
    """The condition design at the start: each change-point location (``changepoint_<effect>``, in [0, 1]) is the
    midpoint between consecutive observed doses whose step best fits the start log-odds ``eta`` by least squares
    (the other columns as they are); returns the design with those steps in place."""
    from simstats.builders import step

    cx = data.condition_x.copy()
    for name, (j, width) in data.condition_steps.items():
        r = np.unique(data.condition_x[:, j])
        best = (np.inf, 0.5)
        for tau in (r[:-1] + r[1:]) / 2:
            cx[:, j] = step(data.condition_x[:, j], tau, width)
            X = np.concatenate([np.ones((len(eta), 1)), cx], axis=1)
            res = eta - X @ np.linalg.lstsq(X, eta, rcond=None)[0]
            best = min(best, (float((res ** 2).sum()), float(tau)))
        init[f"changepoint_{name}"] = np.array(best[1])
        cx[:, j] = step(data.condition_x[:, j], best[1], width)
    return cx


def _jittered(init: dict[str, np.ndarray], chains: int, rng: np.random.Generator,
              fingerprint_names: set[str]) -> list[dict[str, np.ndarray]]:
    out = []
    for _ in range(chains):
        d = {}
        for k, v in init.items():
            v = np.asarray(v, float)
            if k in fingerprint_names or k in ("u_raw", "variance_share"):
                d[k] = v.copy()
            elif k.startswith("sigma_"):
                d[k] = v * np.exp(rng.uniform(-0.5, 0.5, v.shape))
            elif k.startswith("changepoint_"):     # a location in (0, 1): jittered on the logit scale
                lo = np.log(v) - np.log1p(-v) + rng.uniform(-0.5, 0.5, v.shape)
                d[k] = 1.0 / (1.0 + np.exp(-lo))
            else:
                d[k] = v + rng.uniform(-0.5, 0.5, v.shape)
        out.append(d)
    return out


# ---------------------------------------------------------------------------------------------------- diagnostics
def anchor_tables(spec: ModelSpec, data: ModelData) -> dict[str, np.ndarray]:
    """The prior mean fingerprint table (K, categories) of every ``fp_*`` variable, from the spec's anchors."""
    from simstats.builders import _verdict_alpha

    tabs = {f"fp_{ms.name}": FAMILIES[ms.likelihood].prior_table(
        data.patterns.grids[ms.name], [p.anchors[ms.name] for p in spec.personas], spec.anchor_strength)
        for ms in spec.measures}
    if data.verdict_levels is not None:
        a = _verdict_alpha(spec, data.verdict_levels)
        tabs["fp_verdict"] = a / a.sum(1, keepdims=True)
    return tabs


def labels_match_anchors(posterior, spec: ModelSpec, data: ModelData) -> bool:
    """True when the posterior-mean fingerprints sit closest to their own personas' anchors (an L1 assignment);
    False means the data put a persona where another's name fits better: the names may mislead."""
    tabs = anchor_tables(spec, data)
    names = [n for n in tabs if n in posterior]
    est = np.concatenate([np.asarray(posterior[n]).mean((0, 1)) for n in names], axis=-1)
    anchor = np.concatenate([tabs[n] for n in names], axis=-1)
    K = est.shape[0]
    if K <= 7:
        best = min(permutations(range(K)), key=lambda p: np.abs(est[list(p)] - anchor).sum())
    else:
        from scipy.optimize import linear_sum_assignment
        r, c = linear_sum_assignment(np.abs(est[:, None, :] - anchor[None, :, :]).sum(-1))
        best = tuple(int(x) for x in r[np.argsort(c)])
    return tuple(best) == tuple(range(K))


def check(idata, spec: ModelSpec, data: ModelData, sampler: str) -> Diagnostics:
    """:func:`simstats.diagnostics.diagnose` (or :func:`~simstats.diagnostics.approximate`) plus the anchor check."""
    d = diagnose(idata) if sampler in MCMC else approximate(idata, sampler)
    if len(data.personas) > 1 and not labels_match_anchors(idata["posterior"], spec, data):
        d.messages.append("fitted fingerprints sit closer to another persona's anchors than to their own: the "
                          "persona names may not fit these data")
        if d.status == "ok":
            d.status = "warning"
    return d


# ------------------------------------------------------------------------------------------------------------ fit
@dataclass
class FitOutput:
    """What :func:`fit` returns: the posterior (``idata``) and everything needed to interpret it."""

    idata: Any                      # xarray.DataTree: posterior (named dims), sample_stats, attrs
    spec: ModelSpec
    patterns: Patterns              # the patterns the model saw (coarsened as the spec asks)
    model: Any                      # the pymc.Model
    sampler: str
    timings: dict[str, float]
    data: ModelData | None = None
    diagnostics: Diagnostics | None = None
    em: EMResult | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.diagnostics is not None and self.diagnostics.converged


def _seed_ints(seed: int | None, n: int) -> list[int]:
    ss = np.random.SeedSequence(seed)
    return [int(x) for x in ss.generate_state(n, dtype=np.uint32)]


def _sample_nutpie(model, init, jitter_rvs, draws, tune, chains, seed, progress, target_accept, backend,
                   adaptation):
    import nutpie

    t0 = time.perf_counter()
    cm = nutpie.compile_pymc_model(model, backend=backend,
                                   gradient_backend="jax" if backend == "jax" else "pytensor",
                                   initial_points=init, jitter_rvs=jitter_rvs)
    t1 = time.perf_counter()
    idata = nutpie.sample(cm, draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
                          seed=seed, progress_bar=progress, target_accept=target_accept,
                          adaptation=adaptation)
    return idata, {"compile": t1 - t0, "sample": time.perf_counter() - t1}


def _sample_pymc(model, inits, draws, tune, chains, seed, progress, target_accept):
    import pymc as pm

    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
                          random_seed=seed, nuts_sampler="pymc", initvals=inits, init="adapt_diag",
                          progressbar=progress, compute_convergence_checks=False,
                          nuts={"target_accept": target_accept})
    return idata, {"compile+sample": time.perf_counter() - t0}


class _BlackjaxCompat:
    """PyMC 6.4's BlackJAX path was written for BlackJAX < 1.6: it passes ``progress_bar`` to
    ``window_adaptation`` and calls ``blackjax.progress_bar.gen_scan_fn``, both gone in BlackJAX 1.6. Inside this
    context both exist again (the first drops the argument, the second is a plain ``lax.scan``); restored on exit."""

    def __enter__(self):
        import blackjax
        import jax

        self.bj = blackjax
        self.orig_wa = blackjax.window_adaptation
        self.pb = blackjax.progress_bar
        self.had_scan = hasattr(self.pb, "gen_scan_fn")

        def window_adaptation(*args, progress_bar=None, **kwargs):
            return self.orig_wa(*args, **kwargs)

        blackjax.window_adaptation = window_adaptation
        if not self.had_scan:
            self.pb.gen_scan_fn = lambda n, progress=False: jax.lax.scan
        return self

    def __exit__(self, *exc):
        self.bj.window_adaptation = self.orig_wa
        if not self.had_scan:
            del self.pb.gen_scan_fn
        return False


def _sample_jax(which, model, inits, draws, tune, chains, seed, progress, target_accept):
    import contextlib

    import jax

    jax.config.update("jax_enable_x64", True)
    from pymc.sampling.jax import sample_jax_nuts

    t0 = time.perf_counter()
    with _BlackjaxCompat() if which == "blackjax" else contextlib.nullcontext():
        idata = sample_jax_nuts(draws=draws, tune=tune, chains=chains, target_accept=target_accept, random_seed=seed,
                                initvals=inits, jitter=False, model=model, progressbar=progress,
                                nuts_sampler=which, compute_convergence_checks=False,
                                chain_method="parallel" if jax.device_count() >= chains else "vectorized")
    return idata, {"compile+sample": time.perf_counter() - t0}


def _sample_advi(model, init, draws, seed, progress, n_iter=30000):
    import pymc as pm

    t0 = time.perf_counter()
    with model:
        approx = pm.fit(n=n_iter, method="advi", start=init, random_seed=seed, progressbar=progress)
        idata = approx.sample(draws, random_seed=seed)
    return idata, {"fit": time.perf_counter() - t0}


def _sample_pathfinder(model, init, draws, seed, progress):
    """Single-path pathfinder (blackjax) on the model's unconstrained log-density, mapped back to named vars."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import blackjax
    from pymc.sampling.jax import get_jaxified_graph

    t0 = time.perf_counter()
    vvars = model.value_vars
    logp_fn = get_jaxified_graph(inputs=vvars, outputs=[model.logp()])
    from pymc.initial_point import make_initial_point_fn

    ip = make_initial_point_fn(model=model, overrides=init, jitter_rvs=set(), return_transformed=True)(seed)
    shapes = [np.shape(ip[v.name]) for v in vvars]
    sizes = [int(np.prod(s)) for s in shapes]
    x0 = jnp.concatenate([jnp.ravel(jnp.asarray(ip[v.name], float)) for v in vvars])

    def unflatten(x):
        out, i = [], 0
        for s, n in zip(shapes, sizes):
            out.append(x[i:i + n].reshape(s))
            i += n
        return out

    def logdensity(x):
        return logp_fn(*unflatten(x))[0]

    key = jax.random.PRNGKey(seed)
    k1, k2 = jax.random.split(key)
    state, _ = blackjax.vi.pathfinder.approximate(k1, logdensity, x0)
    samples, _ = blackjax.vi.pathfinder.sample(k2, state, draws)
    samples = np.asarray(samples)
    # map unconstrained draws to the model's named variables (deterministics included)
    fn = model.compile_fn(model.unobserved_value_vars, inputs=vvars, on_unused_input="ignore", point_fn=False)
    names = [v.name for v in model.unobserved_value_vars]
    cols = {n: [] for n in names}
    for s in samples:
        vals = fn(*unflatten(s))
        for n, v in zip(names, vals):
            cols[n].append(v)
    keep = {rv.name for rv in model.free_RVs} | {d.name for d in model.deterministics}
    value_to_rv = {model.rvs_to_values[rv].name: rv.name for rv in model.free_RVs}
    post = {}
    for n in names:
        nm = value_to_rv.get(n, n)
        if nm in keep:
            post[nm] = np.asarray(cols[n])[None]
    import arviz as az
    dims = {k: list(v) for k, v in model.named_vars_to_dims.items()}
    idata = az.from_dict({"posterior": post}, dims=dims, coords={k: list(v) for k, v in model.coords.items()})
    return idata, {"fit": time.perf_counter() - t0}


def fit(spec: ModelSpec, patterns: Patterns, *, sampler: str | None = None, draws: int | None = None,
        tune: int | None = None, chains: int | None = None, seed: int | None = None, progress: bool = True,
        target_accept: float | None = None, backend: str = "numba", require_convergence: bool = False,
        em_iter: int = 500, adaptation: str = "low_rank") -> FitOutput:
    """Fit ``spec`` to ``patterns`` and check convergence.

    ``sampler`` is one of ``nutpie`` (default from the spec), ``pymc``, ``numpyro``, ``blackjax``, ``advi``,
    ``pathfinder``; ``draws`` / ``tune`` / ``chains`` / ``target_accept`` default to the spec's ``[sampler]``;
    ``seed`` makes draws reproducible (same seed, same sampler and machine: identical draws); ``backend`` is the
    nutpie compile backend (``numba`` or ``jax``).

    A fit that fails the checks (R-hat > 1.01, ESS < 400, divergences, label switching, merged personas) is never
    silently returned as a result: it raises :class:`FitError` with ``require_convergence=True``, else it warns and
    ``out.converged`` is ``False``. Approximations (advi, pathfinder) are always ``converged = False``.
    """
    t_start = time.perf_counter()
    s = spec.sampler
    sampler = sampler or s.name
    if sampler not in SAMPLERS:
        raise SpecError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    draws, tune, chains = draws or s.draws, s.tune if tune is None else tune, chains or s.chains
    target_accept = target_accept or s.target_accept
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    data = model_data(spec, patterns)
    em = None
    if spec.kind == "degradation":          # no personas: start each condition at its empirical moments
        from simstats import degradation

        init = degradation.initial_point(spec, data)
    else:
        em = em_start(spec, data, max_iter=em_iter)
        if spec.hierarchy.parametrization == "adaptive":
            data.centred_condition = adaptive_centring(data, em_condition_counts(em, data))
        init = initial_point(spec, data, em)
    timings["init"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, data = build_model(spec, patterns, data=data)
    timings["build"] = time.perf_counter() - t0

    fp_names = {n for n in init if n.startswith("fp_")}
    seeds = _seed_ints(seed, 3)
    rng = np.random.default_rng(seeds[0])
    if sampler == "nutpie":
        jit = {rv for rv in model.free_RVs if rv.name not in fp_names and rv.name != "u_raw"}
        idata, t = _sample_nutpie(model, init, jit, draws, tune, chains, seeds[1], progress, target_accept, backend,
                              adaptation)
    elif sampler == "pymc":
        idata, t = _sample_pymc(model, _jittered(init, chains, rng, fp_names), draws, tune, chains, seeds[1],
                                progress, target_accept)
    elif sampler in ("numpyro", "blackjax"):
        idata, t = _sample_jax(sampler, model, _jittered(init, chains, rng, fp_names), draws, tune, chains,
                               seeds[1], progress, target_accept)
    elif sampler == "advi":
        idata, t = _sample_advi(model, init, draws * chains, seeds[1], progress)
    else:
        idata, t = _sample_pathfinder(model, init, draws * chains, seeds[1], progress)
    timings.update(t)

    t0 = time.perf_counter()
    diag = check(idata, spec, data, sampler)
    timings["diagnostics"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    idata.attrs.update({"simstats_spec": spec.name, "simstats_spec_hash": spec.hash(),
                        "simstats_data_hash": data.patterns.data_hash(), "simstats_sampler": sampler,
                        "simstats_seed": -1 if seed is None else int(seed)})
    out = FitOutput(idata, spec, data.patterns, model, sampler, timings, data, diag, em,
                    {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "target_accept": target_accept,
                     "backend": backend})
    if sampler in MCMC and not diag.converged:
        msg = f"fit with {sampler} did not converge: {diag.summary()}"
        if require_convergence:
            raise FitError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return out


__all__ = [
    "SAMPLERS",
    "EMResult",
    "FitOutput",
    "anchor_tables",
    "check",
    "em_start",
    "fit",
    "initial_point",
    "labels_match_anchors",
]
