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

from simstats.builders import ModelData, build_model
from simstats.errors import FitError, SpecError
from simstats.likelihoods import FAMILIES
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder")
MCMC = ("nutpie", "pymc", "numpyro", "blackjax")
RHAT_MAX, ESS_MIN = 1.01, 400.0


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
    K = len(data.personas)
    fps, prior_extra = {}, {}
    for ms in spec.measures:
        grid = data.patterns.grids[ms.name]
        anchors = [p.anchors[ms.name] for p in spec.personas]
        fps[ms.name] = FAMILIES[ms.likelihood].prior_table(grid, anchors, spec.anchor_strength)
        from simstats.likelihoods import _anchor_table
        prior_extra[ms.name] = spec.anchor_strength * _anchor_table(grid, anchors)
    cats = dict(data.pattern_cat)
    if data.pattern_verdict is not None:
        from simstats.builders import _verdict_alpha
        a = _verdict_alpha(spec, data.verdict_levels)
        fps["verdict"] = a / a.sum(1, keepdims=True)
        prior_extra["verdict"] = a - 1.0
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
    """Weighted least squares of cell log-odds on condition + features + (centred) question: eta, gamma, u."""
    C, Q, F = len(data.conditions), len(data.prompts), data.cell_x.shape[1]
    n = len(data.cell_count)
    X = np.zeros((n, C + F + Q))
    X[np.arange(n), data.cell_condition] = 1
    X[:, C:C + F] = data.cell_x
    X[np.arange(n), C + F + data.cell_prompt] = 1
    X[:, C + F:] -= 1.0 / Q                     # zero-sum coding of the question effect
    sw = np.sqrt(data.cell_count.astype(float))[:, None]
    coef, *_ = np.linalg.lstsq(X * sw, lw * sw, rcond=None)
    eta, gamma, u = coef[:C], coef[C:C + F], coef[C + F:]
    return eta, gamma, u - u.mean(0, keepdims=True)


def initial_point(spec: ModelSpec, data: ModelData, em: EMResult) -> dict[str, np.ndarray]:
    """Values (constrained space) of every free variable of :func:`~simstats.builders.build_model` from EM."""
    w = np.clip(em.cell_weights, 1e-6, None)
    lw = np.log(w[:, 1:]) - np.log(w[:, :1])
    lw = np.clip(lw, -12, 12)
    eta, gamma, u = _solve_logits(data, lw)
    mu = eta.mean(0)
    sd = np.maximum(eta.std(0), 0.3)
    init: dict[str, np.ndarray] = {"logodds_mu": mu}
    for lev, groups in zip(data.levels, data.level_groups):
        init[f"sigma_{lev}"] = np.full(len(mu), 0.3)
        init[f"z_{lev}"] = np.zeros((len(groups), len(mu)))
    init["sigma_condition"] = sd
    if spec.hierarchy.parametrization == "centred":
        init["eta_condition"] = eta
    else:
        init["z_condition"] = (eta - mu) / sd
    if data.coefs:
        init["gamma_free"] = gamma
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        sq = np.maximum(u.std(0), 0.1)
        init["sigma_question"] = sq
        init["u_raw"] = (u / sq).T
    for ms in spec.measures:
        init.update(FAMILIES[ms.likelihood].initial_values(ms.name, data.patterns.grids[ms.name],
                                                           em.fingerprints[ms.name]))
    if "verdict" in em.fingerprints:
        init["fp_verdict"] = np.clip(em.fingerprints["verdict"], 1e-4, None)
        init["fp_verdict"] /= init["fp_verdict"].sum(1, keepdims=True)
    return init


def _jittered(init: dict[str, np.ndarray], chains: int, rng: np.random.Generator,
              fingerprint_names: set[str]) -> list[dict[str, np.ndarray]]:
    out = []
    for _ in range(chains):
        d = {}
        for k, v in init.items():
            v = np.asarray(v, float)
            if k in fingerprint_names or k == "u_raw":
                d[k] = v.copy()
            elif k.startswith("sigma_"):
                d[k] = v * np.exp(rng.uniform(-0.5, 0.5, v.shape))
            else:
                d[k] = v + rng.uniform(-0.5, 0.5, v.shape)
        out.append(d)
    return out


# ---------------------------------------------------------------------------------------------------- diagnostics
@dataclass
class LabelCheck:
    """Result of :func:`label_switching_check`."""

    ok: bool
    chain_permutations: dict[int, tuple[int, ...]]   # best relabelling of each chain onto the pooled fingerprints
    within_chain_switch: list[int]                   # chains whose first and second halves disagree
    merged: list[tuple[int, str, str]]               # (chain, persona, persona) with near-identical fingerprints
    matches_anchors: bool                            # pooled fingerprints closest to the spec's anchors as named
    message: str


def _fingerprint_matrix(posterior, names: list[str]) -> np.ndarray:
    """(chain, draw, K, D): concatenated fingerprint probabilities of every measure."""
    return np.concatenate([np.asarray(posterior[n]) for n in names], axis=-1)


def _best_perm(a: np.ndarray, b: np.ndarray) -> tuple[tuple[int, ...], float, float]:
    """Permutation p minimising sum_k |a[p[k]] - b[k]|_1; returns (p, its cost, identity cost)."""
    K = a.shape[0]
    ident = float(np.abs(a - b).sum())
    if K <= 7:
        best = min(permutations(range(K)), key=lambda p: np.abs(a[list(p)] - b).sum())
    else:
        from scipy.optimize import linear_sum_assignment
        cost = np.abs(a[:, None, :] - b[None, :, :]).sum(-1)
        r, c = linear_sum_assignment(cost)
        best = tuple(int(x) for x in r[np.argsort(c)])
    return tuple(int(x) for x in best), float(np.abs(a[list(best)] - b).sum()), ident


def label_switching_check(idata, spec: ModelSpec | None = None, data: ModelData | None = None,
                          merge_tol: float = 0.1) -> LabelCheck:
    """Detect label switching across and within chains, and merged personas, from fingerprint draws.

    For each chain, the chain-mean fingerprints (all measures' category probabilities concatenated) are matched to
    those of chain 0 by the permutation with the smallest L1 distance; any chain whose best match is not the identity
    has switched labels. The same is done between the halves of each chain. Two personas of one chain whose
    fingerprints are within ``merge_tol`` (L1, per measure averaged) are flagged as merged. With ``spec`` and
    ``data`` the pooled (chain 0's if chains disagree) fingerprints are also matched to the anchors' prior tables (``matches_anchors``).

    >>> chk = label_switching_check(out.idata)    # doctest: +SKIP
    >>> chk.ok                                    # doctest: +SKIP
    True
    """
    post = idata.posterior
    names = sorted(n for n in post.data_vars if n.startswith("fp_") and post[n].ndim == 4)
    if not names:
        raise FitError("no fingerprint variables (fp_*) in the posterior")
    F = _fingerprint_matrix(post, names)            # (chain, draw, K, D)
    nch, nd, K = F.shape[:3]
    ref = F[0].mean(0)          # chain 0 is the reference labelling (a pooled mean would average switched chains)
    perms, within, merged = {}, [], []
    pn = list(post["fp_" + names[0][3:]].coords[post[names[0]].dims[2]].values)
    for c in range(nch):
        m = F[c].mean(0)
        p, cost, ident = _best_perm(m, ref)
        perms[c] = p
        h1, h2 = F[c, : nd // 2].mean(0), F[c, nd // 2:].mean(0)
        p2, *_ = _best_perm(h2, h1)
        if p2 != tuple(range(K)):
            within.append(c)
        for i in range(K):
            for j in range(i + 1, K):
                if np.abs(m[i] - m[j]).sum() / len(names) < merge_tol:
                    merged.append((c, str(pn[i]), str(pn[j])))
    switched = [c for c, p in perms.items() if p != tuple(range(K))]
    pooled = F.mean((0, 1)) if not switched else ref
    anchors_ok = True
    if spec is not None and data is not None:
        tabs = []
        for n in names:
            mname = n[3:]
            if mname == "verdict":
                from simstats.builders import _verdict_alpha
                a = _verdict_alpha(spec, data.verdict_levels)
                tabs.append(a / a.sum(1, keepdims=True))
            else:
                ms = next(x for x in spec.measures if x.name == mname)
                tabs.append(FAMILIES[ms.likelihood].prior_table(
                    data.patterns.grids[mname], [p.anchors[mname] for p in spec.personas], spec.anchor_strength))
        anchor = np.concatenate(tabs, axis=-1)
        p, *_ = _best_perm(pooled, anchor)
        anchors_ok = p == tuple(range(K))
    ok = not switched and not within and not merged
    msgs = []
    if switched:
        msgs.append(f"chains {switched} carry other labellings ({ {c: perms[c] for c in switched} })")
    if within:
        msgs.append(f"labels switch within chains {within}")
    if merged:
        msgs.append(f"merged personas {merged}")
    if not anchors_ok:
        msgs.append("pooled fingerprints sit closer to another persona's anchor than to their own (names may not fit)")
    return LabelCheck(ok, perms, within, merged, anchors_ok, "; ".join(msgs) or "no label switching")


@dataclass
class Diagnostics:
    """Convergence summary of an MCMC fit (thresholds: R-hat <= 1.01, bulk and tail ESS >= 400, no divergences)."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    n_divergent: int
    worst: list[tuple[str, float, float]]       # (parameter, r_hat, ess_bulk) of the weakest few
    labels: LabelCheck | None
    checked: bool = True                        # False for approximations (advi, pathfinder)

    @property
    def converged(self) -> bool:
        return (self.checked and self.max_rhat <= RHAT_MAX and self.min_ess_bulk >= ESS_MIN
                and self.min_ess_tail >= ESS_MIN and self.n_divergent == 0
                and (self.labels is None or self.labels.ok))

    def summary(self) -> str:
        if not self.checked:
            return "approximate inference: no MCMC convergence diagnostics"
        s = (f"max R-hat {self.max_rhat:.4f}, min bulk ESS {self.min_ess_bulk:.0f}, min tail ESS "
             f"{self.min_ess_tail:.0f}, divergences {self.n_divergent}")
        if self.labels is not None:
            s += f"; labels: {self.labels.message}"
        return s


def diagnose(idata, spec: ModelSpec | None = None, data: ModelData | None = None) -> Diagnostics:
    """R-hat, ESS, divergences of every posterior variable (constant entries such as reference columns skipped)."""
    import arviz_stats as azs

    post = idata.posterior.to_dataset() if hasattr(idata.posterior, "to_dataset") else idata.posterior
    rh = azs.rhat(post)
    eb = azs.ess(post, method="bulk")
    et = azs.ess(post, method="tail")
    rows = []
    for v in post.data_vars:
        x = np.asarray(post[v])
        const = (x.std(axis=(0, 1)) == 0)
        r = np.asarray(rh[v]).reshape(const.shape)
        b = np.asarray(eb[v]).reshape(const.shape)
        t = np.asarray(et[v]).reshape(const.shape)
        for idx in zip(*np.nonzero(~const)):
            rows.append((f"{v}{list(idx) if idx else ''}", float(r[idx]), float(b[idx]), float(t[idx])))
    if not rows:
        raise FitError("posterior has no varying parameters")
    rows_r = np.array([x[1] for x in rows])
    rows_b = np.array([x[2] for x in rows])
    rows_t = np.array([x[3] for x in rows])
    rows_r = np.where(np.isnan(rows_r), np.inf, rows_r)
    worst = sorted(rows, key=lambda x: -(x[1] if np.isfinite(x[1]) else np.inf))[:3] + \
        sorted(rows, key=lambda x: x[2])[:3]
    ndiv = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "sample_stats" in idata.children and \
        "diverging" in idata.sample_stats else 0
    labels = label_switching_check(idata, spec, data)
    return Diagnostics(float(rows_r.max()), float(np.nan_to_num(rows_b, nan=0).min()),
                       float(np.nan_to_num(rows_t, nan=0).min()), ndiv,
                       [(n, r, b) for n, r, b, _ in worst], labels)


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


def _sample_jax(which, model, inits, draws, tune, chains, seed, progress, target_accept):
    import jax

    jax.config.update("jax_enable_x64", True)
    from pymc.sampling.jax import sample_jax_nuts

    t0 = time.perf_counter()
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
    model, data = build_model(spec, patterns)
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    em = em_start(spec, data, max_iter=em_iter)
    init = initial_point(spec, data, em)
    timings["init"] = time.perf_counter() - t0

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
    if sampler in MCMC:
        diag = diagnose(idata, spec, data)
    else:
        diag = Diagnostics(np.nan, np.nan, np.nan, 0, [], label_switching_check(idata, spec, data), checked=False)
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
    "Diagnostics",
    "EMResult",
    "FitOutput",
    "LabelCheck",
    "diagnose",
    "em_start",
    "fit",
    "initial_point",
    "label_switching_check",
]
