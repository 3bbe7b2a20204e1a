"""The samplers behind :func:`simstats.inference.fit`, each from a PyMC model and a :class:`~simstats.kinds.Start`:
``nutpie`` (PyTensor -> numba, or ``backend="jax"``), ``pymc`` (PyMC's NUTS, C backend with its on-disk cache),
``numpyro`` / ``blackjax`` (through JAX, float64, chains in parallel when
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` was set before JAX started; simstats sets it when this module
is imported before JAX), and the approximations ``advi`` and ``pathfinder``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

if "jax" not in sys.modules and "XLA_FLAGS" not in os.environ:  # must happen before JAX starts
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder")
MCMC = ("nutpie", "pymc", "numpyro", "blackjax")


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
    _raise_if_cut_short(idata, draws)
    return idata, {"compile": t1 - t0, "sample": time.perf_counter() - t1}


def _raise_if_cut_short(idata, draws: int) -> None:
    """nutpie (and PyMC) catch a KeyboardInterrupt (Ctrl-C, or SIGTERM as the CLI maps it) while they sample,
    stop and return the draws they have so far; pass the interrupt on instead, so that a cut-short run is never diagnosed,
    reported or saved as a (failed) fit."""
    try:
        n = int(idata["posterior"].sizes["draw"])
    except (KeyError, AttributeError, TypeError):
        n = 0
    if n < draws:
        raise KeyboardInterrupt(f"nutpie stopped after {n} of {draws} draws (interrupted)")


def _sample_pymc(model, inits, draws, tune, chains, seed, progress, target_accept):
    import pymc as pm

    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
                          random_seed=seed, nuts_sampler="pymc", initvals=inits, init="adapt_diag",
                          progressbar=progress, compute_convergence_checks=False,
                          nuts={"target_accept": target_accept})
    _raise_if_cut_short(idata, draws)                # PyMC too returns the draws so far on Ctrl-C
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


def run_sampler(sampler: str, model, start, *, draws: int, tune: int, chains: int, seed: int, rng: np.random.Generator,
                progress: bool, target_accept: float, backend: str = "numba", adaptation: str = "low_rank"):
    """Sample ``model`` from ``start`` with ``sampler``; returns ``(idata, timings)``. Every chain starts from the
    start values, jittered by their rules (fingerprints never: chains keep the spec's labelling)."""
    if sampler == "nutpie":
        fixed = start.fixed()
        jit = {rv for rv in model.free_RVs if rv.name not in fixed}
        return _sample_nutpie(model, start.values, jit, draws, tune, chains, seed, progress, target_accept, backend,
                              adaptation)
    if sampler == "pymc":
        return _sample_pymc(model, start.jittered(chains, rng), draws, tune, chains, seed, progress, target_accept)
    if sampler in ("numpyro", "blackjax"):
        return _sample_jax(sampler, model, start.jittered(chains, rng), draws, tune, chains, seed, progress,
                           target_accept)
    if sampler == "advi":
        return _sample_advi(model, start.values, draws * chains, seed, progress)
    return _sample_pathfinder(model, start.values, draws * chains, seed, progress)


__all__ = ["MCMC", "SAMPLERS", "run_sampler"]
