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
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

if "jax" not in sys.modules and "XLA_FLAGS" not in os.environ:  # must happen before JAX starts
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder")
MCMC = ("nutpie", "pymc", "numpyro", "blackjax")


def _sample_nutpie(model, init, jitter_rvs, draws, tune, chains, seed, progress, target_accept, backend,
                   adaptation, gate=None, compiled=None):
    import nutpie

    t0 = time.perf_counter()
    key = ("nutpie", backend)
    cm = None if compiled is None else compiled.get(key)
    if cm is None:
        cm = nutpie.compile_pymc_model(model, backend=backend,
                                       gradient_backend="jax" if backend == "jax" else "pytensor",
                                       initial_points=init, jitter_rvs=jitter_rvs)
        if compiled is not None:
            compiled[key] = cm
    t1 = time.perf_counter()
    kw = dict(draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1), seed=seed,
              progress_bar=progress, target_accept=target_accept, adaptation=adaptation)
    if gate is None:
        idata = nutpie.sample(cm, **kw)
        _raise_if_cut_short(idata, draws)
        return idata, {"compile": t1 - t0, "sample": time.perf_counter() - t1}
    # every chain at once (threads share the cores): a block is complete only when the slowest chain has drawn it,
    # and with fewer cores than chains nutpie would start the last chains only after the first finished the budget
    kw["cores"] = chains
    kw["save_warmup"] = False          # every look copies the trace: without the warm-up it is a third as long
    # nutpie's progress reports (a background thread, every 100 ms) say cheaply how far each chain is, so that the
    # trace is copied only when the slowest chain has completed the next block
    finished = [0] * chains

    def on_progress(chain_progress) -> None:
        finished[:] = [max(0, int(p.finished_draws) - tune) for p in chain_progress]

    kw["progress_callback"] = on_progress
    idata, record = sample_to_gate(nutpie.sample(cm, blocking=False, **kw), gate, draws,
                                   drawn=lambda: min(finished))
    return idata, {"compile": t1 - t0, "sample": time.perf_counter() - t1, "gate": record}


@dataclass
class Gate:
    """Sampling to the convergence gate: after warm-up, the chains' draws are checked every ``block`` draws per
    chain, and sampling stops at the first check whose ``verdict`` is not ``"continue"`` (``"pass"``: the gate is
    met; ``"stop"``: more draws will not help, such as divergences) or when ``max_seconds`` (0: none) have passed.

    The draws kept are the first ``n`` of every chain, ``n`` a multiple of ``block`` (or the whole budget), and the
    checks see exactly those draws, so that where sampling stops depends on the draws alone, not on how fast the
    chains ran: the same seed gives the same draws. A time limit, when it ends the run, gives up that promise and
    says so (``stopped = "time"``).

    ``verdict(idata) -> (verdict, summary)``; ``on_check(n, verdict, summary)`` reports each check.
    """

    block: int
    verdict: Callable[[Any], tuple[str, dict]]
    max_seconds: float = 0.0
    on_check: Callable[[int, str, dict], None] | None = None
    poll: float = 0.2


def draws_done(idata) -> int:
    """Posterior draws every chain has completed (nutpie pads a chain that is behind with NaN)."""
    try:
        stat = np.asarray(idata["sample_stats"]["step_size"])
    except KeyError:
        return 0
    if stat.size == 0:
        return 0
    return int(np.isfinite(stat).sum(axis=1).min())


def first_draws(idata, n: int):
    """``idata`` with its posterior and sample statistics cut to every chain's first ``n`` draws (other groups kept)."""
    out = idata.copy()
    for group in ("posterior", "sample_stats"):
        if group in idata.children:
            out[group] = idata[group].isel(draw=slice(0, n))
    return out


def _is_finished(background) -> bool:
    try:
        return bool(background.is_finished)
    except TimeoutError:          # nutpie 0.16 answers a running sampler's is_finished so
        return False


def sample_to_gate(background, gate: Gate, budget: int, drawn: Callable[[], int] | None = None):
    """Run a non-blocking nutpie sampler (``nutpie.sample(..., blocking=False)`` with ``draws=budget``) until
    ``gate`` stops it; returns ``(idata, record)``, the record saying why it stopped and what each check saw.
    Ctrl-C (or SIGTERM mapped to it) cancels the sampler and is passed on.

    ``drawn()``: the posterior draws the slowest chain has completed, from nutpie's progress reports. Every look at
    a running sampler copies its whole trace (~0.4 s on the bundled log, whatever its length), so with ``drawn`` the
    trace is looked at only once a block is complete; without it, every ``poll`` seconds."""
    t0 = time.perf_counter()
    checks: list[dict] = []
    k = 1
    cost = {"looks": 0, "look_s": 0.0, "check_s": 0.0}

    def record(stopped: str, n: int) -> dict:
        return {"stopped": stopped, "draws": n, "block": gate.block, "checks": checks, "drawn": int(done),
                **{what: round(v, 3) for what, v in cost.items()}}

    try:
        while True:
            finished = _is_finished(background)
            late = bool(gate.max_seconds) and time.perf_counter() - t0 > gate.max_seconds
            if not finished and not late and drawn is not None and drawn() < min(k * gate.block, budget):
                time.sleep(gate.poll)
                continue
            t1 = time.perf_counter()
            with warnings.catch_warnings():     # a trace of a few draws: ArviZ warns that chains outnumber draws
                warnings.simplefilter("ignore", UserWarning)
                trace = background.wait() if finished else background.inspect()
            cost["looks"] += 1
            cost["look_s"] += time.perf_counter() - t1
            done = budget if finished else draws_done(trace)
            if finished:
                _raise_if_cut_short(trace, budget)
            while k * gate.block <= min(done, budget):
                n = k * gate.block
                t1 = time.perf_counter()
                head = first_draws(trace, n)
                verdict, summary = gate.verdict(head)
                cost["check_s"] += time.perf_counter() - t1
                checks.append({"draws": n, "verdict": verdict, **summary})
                if gate.on_check is not None:
                    gate.on_check(n, verdict, summary)
                if verdict != "continue":
                    if not finished:
                        background.cancel()
                    return head, record("gate" if verdict == "pass" else "checks", n)
                k += 1
            if finished:
                return trace, record("budget", budget)
            if late and done > 0:
                background.cancel()
                return first_draws(trace, done), record("time", done)
            time.sleep(gate.poll)
    except BaseException:
        try:
            background.cancel()
        except Exception:  # noqa: BLE001 - already stopped; the original error is what matters
            pass
        raise


def _raise_if_cut_short(idata, draws: int) -> None:
    """nutpie (and PyMC) catch a KeyboardInterrupt (Ctrl-C, or SIGTERM as the CLI maps it) while they sample,
    stop and return the draws they have so far; pass the interrupt on instead, so that a cut-short run is never diagnosed,
    reported or saved as a (failed) fit."""
    from simstats.errors import INTERRUPTED

    if INTERRUPTED.is_set():
        raise KeyboardInterrupt("interrupted while sampling")
    try:
        n = int(idata["posterior"].sizes["draw"])
    except (KeyError, AttributeError, TypeError):
        n = 0
    if n < draws or _padded(idata):
        raise KeyboardInterrupt(f"the sampler stopped after {n} of {draws} draws (interrupted)")


def _padded(idata) -> bool:
    """Whether a chain's trace ends in missing draws (NaN where its first draw has values): a sampler cut short
    that padded its trace to full length."""
    post = idata["posterior"]
    for name in post.data_vars:
        x = np.asarray(post[name])
        if x.dtype.kind != "f" or x.ndim < 2 or not x.size:
            continue
        x = x.reshape(x.shape[0], x.shape[1], -1)
        filled, last = ~np.isnan(x[:, 0]).all(axis=1), np.isnan(x[:, -1]).all(axis=1)
        return bool((filled & last).any())
    return False


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
                progress: bool, target_accept: float, backend: str = "numba", adaptation: str = "low_rank",
                gate: Gate | None = None, compiled: dict | None = None):
    """Sample ``model`` from ``start`` with ``sampler``; returns ``(idata, timings)``. Every chain starts from the
    start values, jittered by their rules (fingerprints never: chains keep the spec's labelling).

    With a ``gate`` (nutpie only), ``draws`` is a budget per chain and sampling stops at the gate
    (:func:`sample_to_gate`; ``timings["gate"]`` says where and why); the other samplers draw ``draws`` exactly.
    ``compiled``: a dict in which nutpie keeps its compiled model, so that a second run of one model (the
    divergence ladder) does not compile again."""
    if sampler == "nutpie":
        fixed = start.fixed()
        jit = {rv for rv in model.free_RVs if rv.name not in fixed}
        return _sample_nutpie(model, start.values, jit, draws, tune, chains, seed, progress, target_accept, backend,
                              adaptation, gate, compiled)
    if sampler == "pymc":
        return _sample_pymc(model, start.jittered(chains, rng), draws, tune, chains, seed, progress, target_accept)
    if sampler in ("numpyro", "blackjax"):
        return _sample_jax(sampler, model, start.jittered(chains, rng), draws, tune, chains, seed, progress,
                           target_accept)
    if sampler == "advi":
        return _sample_advi(model, start.values, draws * chains, seed, progress)
    return _sample_pathfinder(model, start.values, draws * chains, seed, progress)


__all__ = ["MCMC", "SAMPLERS", "Gate", "draws_done", "first_draws", "run_sampler", "sample_to_gate"]
