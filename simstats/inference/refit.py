"""Compile once, fit many: nutpie fits of one spec to many logs of the same design.

Validation studies (interval coverage, simulation-based calibration) fit the same model to hundreds of simulated
logs (any model kind). Compiling the model costs tens of seconds to minutes per fit; the data enter the graph as shared variables
(``pm.Data``), so one compiled model serves every log whose design (conditions, prompts, feature levels, hierarchy
groups, score bins) is the same. Each log still gets its own EM start and jittered initial points, and the same
checks as :func:`simstats.inference.fit`.

>>> from simstats.spec import load_spec                                        # doctest: +SKIP
>>> from simstats.validation import simulate_log                               # doctest: +SKIP
>>> spec = load_spec("models/persona_mixture.toml")                            # doctest: +SKIP
>>> logs = [simulate_log(spec, n_conditions=3, seed=s)[0] for s in range(3)]   # doctest: +SKIP
>>> refit = Refitter(spec, logs[0], draws=500, tune=500, chains=2)             # doctest: +SKIP
>>> outs = [refit.fit(p, seed=i) for i, p in enumerate(logs)]                  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from simstats.errors import SpecError
from simstats.graph.design import data_arrays
from simstats.graph.kernel import ieee_numba
from simstats.inference.fit import FitOutput, check, seed_ints, stamp
from simstats.kinds import kind_of
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec


class Refitter:
    """One compiled nutpie model of ``spec`` for every log with the design of ``template``.

    ``draws`` / ``tune`` / ``chains`` / ``target_accept`` default to the spec's ``[sampler]``.
    :meth:`fit` raises :class:`~simstats.errors.SpecError` for a log of another design.
    """

    def __init__(self, spec: ModelSpec, template: Patterns, *, draws: int | None = None, tune: int | None = None,
                 chains: int | None = None, target_accept: float | None = None, em_iter: int = 500) -> None:
        import nutpie
        import pytensor
        import pytensor.tensor as pt

        ieee_numba()              # before any compile: draws independent of the compile cache
        s = spec.sampler
        self.spec = spec
        self.draws, self.tune, self.chains = draws or s.draws, s.tune if tune is None else tune, chains or s.chains
        self.target_accept = target_accept or s.target_accept
        self.em_iter = em_iter
        t0 = time.perf_counter()
        self.kind = kind_of(spec)
        self.data = self.kind.design(spec, template, observed=False)
        # the template's parametrisation is fixed for the compiled model (every log then gets the same one)
        self.centring = self.kind.start(spec, self.data, em_iter=em_iter).centring
        self.model = self.kind.build(spec, self.data, centring=self.centring)
        self.compiled = nutpie.compile_pymc_model(self.model, backend="numba", gradient_backend="pytensor")
        # constrained values -> flat unconstrained vector, in nutpie's order (free RVs in model order)
        ins, outs = [], []
        for rv in self.model.free_RVs:
            x = rv.type()
            tr = self.model.rvs_to_transforms.get(rv)
            ins.append(x)
            outs.append(pt.flatten(tr.forward(x, *rv.owner.inputs) if tr is not None else x))
        self._to_flat = pytensor.function(ins, pt.concatenate(outs), on_unused_input="ignore")
        self._names = [rv.name for rv in self.model.free_RVs]
        self._sizes = [int(np.prod(v.shape)) for v in self.model.initial_point().values()]
        self.compile_seconds = time.perf_counter() - t0

    def fit(self, patterns: Patterns, *, seed: int | None = None, progress: bool = False) -> FitOutput:
        """Fit one log (same design as the template) and run the checks of :func:`simstats.inference.fit`."""
        import nutpie

        t_start = time.perf_counter()
        spec = self.spec
        data = self.kind.design(spec, patterns)
        if data.coords != self.data.coords:
            diff = [k for k in set(data.coords) | set(self.data.coords)
                    if data.coords.get(k) != self.data.coords.get(k)]
            raise SpecError(f"this log's design differs from the compiled template in {sorted(diff)}")
        # the hierarchy and condition-effect designs are constants of the compiled graph, not data: they must match
        baked = {"hierarchy membership": (data.level_index, self.data.level_index),
                 "condition-effect design": ([data.condition_x], [self.data.condition_x]),
                 "hierarchy variances": ([data.condition_scale], [self.data.condition_scale])}
        for what, (new, old) in baked.items():
            if len(new) != len(old) or not all(np.array_equal(a, b) for a, b in zip(new, old)):
                raise SpecError(f"this log's {what} differs from the compiled template's")
        start = self.kind.start(spec, data, em_iter=self.em_iter, centring=self.centring)  # compiled parametrisation
        flat = self._to_flat(*[np.asarray(start.values[n], dtype=float) for n in self._names])
        # jitter (like PyMC's Uniform(-1, 1) in unconstrained space) for all but what the start keeps fixed
        fixed = start.fixed()
        mask = np.concatenate([np.full(n, nm not in fixed) for nm, n in zip(self._names, self._sizes)])

        def initial_point_func(s):
            rng = np.random.default_rng(s)
            return flat + mask * rng.uniform(-0.5, 0.5, flat.shape)

        # nutpie keeps only the shared variables the graph uses (the level indices enter as constants)
        known = {v.name for v in self.compiled.shared_var_keys}
        arrays = {k: v for k, v in data_arrays(data).items() if k in known}
        cm = dataclasses.replace(self.compiled.with_data(**arrays), initial_point_func=initial_point_func)
        seeds = seed_ints(seed, 3)
        t0 = time.perf_counter()
        idata = nutpie.sample(cm, draws=self.draws, tune=self.tune, chains=self.chains,
                              cores=min(self.chains, os.cpu_count() or 1), seed=seeds[1], progress_bar=progress,
                              target_accept=self.target_accept)
        timings = {"sample": time.perf_counter() - t0}
        diag = check(idata, spec, data, "nutpie")
        timings["total"] = time.perf_counter() - t_start
        stamp(idata, spec, patterns, "nutpie", seed)
        return FitOutput(idata, spec, patterns, self.model, "nutpie", timings, data, diag, start,
                         {"draws": self.draws, "tune": self.tune, "chains": self.chains, "seed": seed,
                          "target_accept": self.target_accept, "backend": "numba"})

