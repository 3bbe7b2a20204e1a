"""Fit-speed benchmark of the persona mixture (prints ratios against a reference run in the same process).

Parts (choose with --parts, default all):

- ``real``: time to a posterior on the whole real log (18 conditions, one model), cold (an empty PyTensor /
  numba compile cache, in a child process) and warm (the same cache, second child process); reports compile,
  sampling and total seconds and whether the convergence gate (R-hat <= 1.01, ESS >= 400, no divergences) passed.
- ``rows``: the same model written row by row in plain PyMC (``build_model(..., rows=True)``: one likelihood
  term per answer, PyTensor's own log-sum-exp, no aggregation, no fused kernel), sampled with nutpie on the same data in the same process as the
  pattern fit: ratio = row time / pattern time.
- ``grad``: one log-density + gradient evaluation of the same model on patterns vs rows (numba), best of 3.
- ``growth``: 10^3 .. 10^7 simulated answers at fixed conditions and prompts; fit time beyond aggregation,
  ratio largest / smallest (target <= 1.5).

Usage: ``python bench/fit_speed.py --parts real,rows,growth --draws 1000 --tune 1000 --chains 4``
No timed asserts; numbers are printed (and written as JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def real_patterns():
    """The bundled clarifying-em log (20,880 answers; hierarchy base_model -> finetune -> run) as Patterns."""
    from simstats.datasets import load_dataset

    return load_dataset("clarifying_em").patterns


def _fit_real(args, compile_only: bool = False) -> dict:
    t0 = time.perf_counter()
    import warnings

    from simstats.inference import fit
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    t_import = time.perf_counter() - t0
    pats = real_patterns()
    spec = load_spec(DEFAULT_SPEC_PATH)
    if compile_only:   # build + EM start + nutpie compile, no sampling
        import nutpie

        from simstats.graph.design import model_data
        from simstats.kinds import build_model, kind_of

        t0 = time.perf_counter()
        data = model_data(spec, pats)
        start = kind_of(spec).start(spec, data)
        model, data = build_model(spec, pats, data=data, centring=start.centring)
        init = start.values
        t1 = time.perf_counter()
        nutpie.compile_pymc_model(model, backend=args.backend, initial_points=init)
        return {"import": t_import, "build+init": t1 - t0, "compile": time.perf_counter() - t1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fit(spec, pats, sampler=args.sampler, backend=args.backend, draws=args.draws or None,
                  tune=args.tune, chains=args.chains or None, seed=1, progress=False)
    d = out.diagnostics
    return {"import": t_import, **out.timings, "converged": out.converged, "diagnostics": d.summary(),
            "n_patterns": len(out.data.count), "settings": out.settings}


def child_real(args, compile_only: bool = False) -> dict:
    """Run one real fit (or only its compile) in a child process, with the environment's compile caches."""
    cmd = [sys.executable, __file__, "--_child", "compile" if compile_only else "real", "--sampler", args.sampler,
           "--backend", args.backend]
    for k in ("draws", "tune", "chains"):
        if getattr(args, k) is not None:
            cmd += [f"--{k}", str(getattr(args, k))]
    r = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _grad_seconds(model, n: int = 200) -> float:
    """Seconds per logp + gradient evaluation of ``model`` (numba backend, the one nutpie uses)."""
    f = model.compile_fn([model.logp(), model.dlogp()], mode="NUMBA")
    ip = model.initial_point()
    f(ip)
    t0 = time.perf_counter()
    for _ in range(n):
        f(ip)
    return (time.perf_counter() - t0) / n


def part_rows(args) -> dict:
    """The same model, same data, same sampler settings: on pattern counts (simstats) and row by row (plain
    PyMC graph, one likelihood term per answer, PyTensor's log-sum-exp), both sampled with nutpie."""
    import warnings

    import nutpie
    import numpy as np

    from simstats.graph.design import model_data
    from simstats.inference import fit
    from simstats.kinds import build_model, kind_of
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    dr, tu, ch = args.draws or 500, args.tune or 500, args.chains or 2
    spec = load_spec(DEFAULT_SPEC_PATH)
    pats = real_patterns()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fit(spec, pats, draws=dr, tune=tu, chains=ch, seed=1, progress=False)
    t_pat = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = model_data(spec, pats)
    start = kind_of(spec).start(spec, data)
    model, data = build_model(spec, pats, rows=True, data=data, centring=start.centring)
    n_rows = int(data.count.sum())
    init = start.values
    cm = nutpie.compile_pymc_model(model, initial_points=init,
                                   jitter_rvs={rv for rv in model.free_RVs if not rv.name.startswith("fp_")})
    t_c = time.perf_counter() - t0
    tr = nutpie.sample(cm, draws=dr, tune=tu, chains=ch, cores=min(ch, os.cpu_count()), seed=1,
                       progress_bar=False, adaptation="low_rank", target_accept=spec.sampler.target_accept)
    t_row = time.perf_counter() - t0
    steps_pat = float(np.asarray(out.idata.sample_stats["n_steps"]).mean())
    steps_row = float(np.asarray(tr.sample_stats["n_steps"]).mean())
    g_pat, g_row = (_grad_seconds(build_model(spec, pats, data=data, centring=start.centring)[0]),
                    _grad_seconds(model, n=20))
    return {"settings": {"draws": dr, "tune": tu, "chains": ch}, "pattern_fit_s": t_pat,
            "pattern_compile_s": out.timings.get("compile"), "row_fit_s": t_row, "row_compile_s": t_c,
            "rows": n_rows, "patterns": len(out.data.count), "ratio_row_over_pattern": t_row / t_pat,
            "grad_us_pattern": 1e6 * g_pat, "grad_us_row": 1e6 * g_row, "grad_ratio": g_row / g_pat,
            "mean_steps_pattern": steps_pat, "mean_steps_row": steps_row}


def part_grad(args) -> dict:
    """Seconds per log-density + gradient of the real-log model on pattern counts vs row by row (numba), the cost
    every leapfrog step pays; with equal step counts per draw, the fit-time ratio approaches this ratio."""
    from simstats.kinds import build_model
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    pats = real_patterns()
    pm_model, data = build_model(spec, pats)
    row_model, _ = build_model(spec, pats, rows=True)
    res = {"patterns": len(data.count), "rows": int(data.count.sum())}
    for rep in range(3):                      # interleaved, best of 3 (shared machine)
        g_pat, g_row = _grad_seconds(pm_model), _grad_seconds(row_model, n=30)
        res.setdefault("grad_us_pattern", []).append(1e6 * g_pat)
        res.setdefault("grad_us_row", []).append(1e6 * g_row)
    res["best_ratio_row_over_pattern"] = min(res["grad_us_row"]) / min(res["grad_us_pattern"])
    return res


def part_growth(args) -> dict:
    """10^3 .. 10^7 simulated answers over the same 6 conditions x 8 prompts (x 2 formats)."""
    import warnings

    from simstats.inference import fit
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec
    from simstats.validation import simulate_log

    spec = load_spec(DEFAULT_SPEC_PATH)
    res = {}
    for n in args.sizes:
        per_cell = max(1, n // (6 * 8 * 2))
        t0 = time.perf_counter()
        pats, _ = simulate_log(spec, n_conditions=6, n_prompts=8, answers_per_cell=per_cell, seed=0)
        t_agg = time.perf_counter() - t0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fit(spec, pats, draws=args.draws or 500, tune=args.tune or 500, chains=args.chains or 2, seed=1,
                      progress=False)
        res[n] = {"answers": pats.n_answers, "patterns": len(pats.table), "simulate+aggregate_s": t_agg,
                  "fit_s": out.timings["total"], "sample_s": out.timings.get("sample"),
                  "converged": out.converged}
        print(n, res[n], flush=True)
    first, last = res[args.sizes[0]]["fit_s"], res[args.sizes[-1]]["fit_s"]
    return {"by_size": res, "ratio_largest_over_smallest": last / first}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="real,rows,growth")
    ap.add_argument("--draws", type=int, default=None, help="default: the spec's (real part); 500 elsewhere")
    ap.add_argument("--tune", type=int, default=None)
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--sampler", default="nutpie")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--sizes", type=lambda t: [int(float(x)) for x in t.split(",")],
                    default=[10**3, 10**4, 10**5, 10**6, 10**7], help="growth: answers, e.g. 1e3,1e5,1e7")
    ap.add_argument("--json")
    ap.add_argument("--_child")
    args = ap.parse_args()
    if args._child in ("real", "compile"):
        print(json.dumps(_fit_real(args, compile_only=args._child == "compile"), default=str))
        return
    results = {}
    parts = args.parts.split(",")
    if "real" in parts:
        with tempfile.TemporaryDirectory() as d:
            os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={d}"
            os.environ["NUMBA_CACHE_DIR"] = str(Path(d) / "numba_cache")
            cold = child_real(args)                         # empty caches: everything compiles
            warm = child_real(args, compile_only=True)      # same caches, second process: what is left to compile
            warm["total_estimate"] = cold["total"] - cold["compile"] + warm["compile"]
        os.environ.pop("PYTENSOR_FLAGS", None)
        os.environ.pop("NUMBA_CACHE_DIR", None)
        results["real"] = {"cold": cold, "warm": warm, "cold_over_warm": cold["total"] / warm["total_estimate"]}
        print("real cold:", cold, "\nreal warm:", warm, flush=True)
    if "rows" in parts:
        results["rows"] = part_rows(args)
        print("rows:", results["rows"], flush=True)
    if "grad" in parts:
        results["grad"] = part_grad(args)
        print("grad:", results["grad"], flush=True)
    if "growth" in parts:
        results["growth"] = part_growth(args)
        print("growth ratio largest/smallest:", results["growth"]["ratio_largest_over_smallest"], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
