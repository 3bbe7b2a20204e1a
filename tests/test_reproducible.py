"""Issue 16, item 1: the same seed, data, spec and versions give the same draws in separate processes, whatever
the state of the compile caches.

The failure this guards against was measured on main before ``simstats.graph.kernel.ieee_numba``: with fresh
PyTensor/numba cache folders, a cold-compile process and a warm-cache process (same seed) gave posterior draws that
differed by up to 12.6, because numba's fast-math let LLVM round logp and gradient differently in the two
(~1e-15) and NUTS amplified that. The test runs the fit twice in two subprocesses on one fresh cache folder pair,
the first compiling everything (cold), the second reading what the first wrote (warm), and compares every
posterior array exactly (``np.array_equal``, no tolerance: reproducibility is bitwise or it is not). It is not
stochastic in the sense of a recovery test: any difference at all is a defect, and the seed is arbitrary. The
fit is sampled to the gate (issue 16, item 3), so the test also covers where the gate stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

WORKER = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    import simstats
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec
    from simstats.validation import Design, simulate
    from simstats.logs import load_roles, open_logs
    from pathlib import Path

    out = Path(sys.argv[1])
    spec = load_spec(DEFAULT_SPEC_PATH)
    sim = simulate(spec, design=Design(levels=("model",), groups=(3,), baseline=None, questions=3, features={},
                                       answers=30), seed=11)
    paths = sim.write(out.parent / (out.stem + "_log.csv"))
    patterns = open_logs(paths["log"], load_roles(paths["roles"])).patterns()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # sampled to the gate (a check at 200 draws per chain, then the budget of 300): where sampling stops must
        # depend on the draws alone, not on how fast either process ran
        r = simstats.fit(spec, patterns, draws=300, tune=60, chains=2, seed=7, progress=False, until="gate")
        assert r.meta["gate"]["checks"], "the gate made no check"
    post = r.idata["posterior"]
    np.savez(out, **{str(k): np.asarray(post[k]) for k in post.data_vars})
""")


def _run(out, cache) -> dict[str, np.ndarray]:
    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={cache / 'pytensor'}") if f)
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    subprocess.run([sys.executable, "-c", WORKER, str(out)], env=env, check=True, timeout=600)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def test_same_seed_same_draws_cold_and_warm_cache(tmp_path):
    cache = tmp_path / "cache"
    cold = _run(tmp_path / "cold.npz", cache)           # compiles every op and the kernel into the empty cache
    assert any((cache / "pytensor").rglob("*")), "the cold run compiled nothing into its cache folder"
    warm = _run(tmp_path / "warm.npz", cache)           # the same folders, now filled
    assert cold.keys() == warm.keys() and "eta" in cold
    differ = {k: float(np.max(np.abs(cold[k] - warm[k]))) for k in cold if not np.array_equal(cold[k], warm[k])}
    assert not differ, f"draws differ between a cold-cache and a warm-cache process: {differ}"
