"""Fit-speed benchmark of the persona mixture (prints ratios against a reference run in the same process).

Parts (choose with --parts, default all):

- ``real``: time to a posterior on the whole real log (18 conditions, one model), cold (an empty PyTensor /
  numba compile cache, in a child process) and warm (the same cache, second child process); reports compile,
  sampling and total seconds and whether the convergence gate (R-hat <= 1.01, ESS >= 400, no divergences) passed.
- ``rows``: the same model written row by row in plain PyMC (``build_model(..., rows=True)``: one likelihood
  term per answer, PyTensor's own log-sum-exp, no aggregation, no fused kernel), sampled with nutpie on the same data in the same process as the
  pattern fit: ratio = row time / pattern time.
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
sys.path.insert(0, str(ROOT / "bench"))


def real_patterns():
    """The clarifying-em log as Patterns with hierarchy levels base_model -> finetune (from file stems)."""
    import re

    import _proto_patterns as pp

    def base_finetune(c: str) -> tuple[str, str]:
        if c.startswith("Qwen-Coder-Insecure"):
            return "Qwen2.5-Coder-32B-Instruct", "insecure"
        m = re.match(r"(.+?)[-_]+(bad_medical_advice)$", c)
        if m:
            return m.group(1).replace("--", "-"), "bad_medical_advice"
        m = re.match(r"(.+?)_(insecure)_R\d+$", c)
        if m:
            return m.group(1), "insecure"
        m = re.match(r"(.+?)_base(_n)?$", c)
        return (m.group(1), "none") if m else (c, "unknown")

    p = pp.load()
    bf = {c: base_finetune(c) for c in p.table["condition"].unique()}
    p.table["base_model"] = p.table["condition"].map(lambda c: bf[c][0])
    p.table["finetune"] = p.table["condition"].map(lambda c: bf[c][1])
    p.condition_levels = ["base_model", "finetune"]
    return p


def _fit_real(args) -> dict:
    t0 = time.perf_counter()
    from simstats.inference import fit
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    t_import = time.perf_counter() - t0
    pats = real_patterns()
    out = fit(load_spec(DEFAULT_SPEC_PATH), pats, sampler=args.sampler, backend=args.backend, draws=args.draws,
              tune=args.tune, chains=args.chains, seed=1, progress=False)
    d = out.diagnostics
    return {"import": t_import, **out.timings, "converged": out.converged, "diagnostics": d.summary(),
            "n_patterns": len(out.data.count)}


def child_real(args) -> dict:
    """Run one real fit in a child process; ``cache`` = the PyTensor base_compiledir it uses."""
    return json.loads(subprocess.run([sys.executable, __file__, "--_child", "real", "--draws", str(args.draws),
                                      "--tune", str(args.tune), "--chains", str(args.chains), "--sampler",
                                      args.sampler, "--backend", args.backend], capture_output=True, text=True,
                                     check=True, env=os.environ).stdout.strip().splitlines()[-1])


def part_rows(args) -> dict:
    import nutpie

    from simstats.builders import build_model
    from simstats.inference import em_start, fit, initial_point
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    pats = real_patterns()
    t0 = time.perf_counter()
    out = fit(spec, pats, draws=args.draws, tune=args.tune, chains=args.chains, seed=1, progress=False)
    t_pat = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, data = build_model(spec, pats, rows=True)
    n_rows = int(data.count.sum())
    init = initial_point(spec, data, em_start(spec, data))
    cm = nutpie.compile_pymc_model(model, initial_points=init,
                                   jitter_rvs={rv for rv in model.free_RVs if not rv.name.startswith("fp_")})
    t_c = time.perf_counter() - t0
    nutpie.sample(cm, draws=args.draws, tune=args.tune, chains=args.chains, cores=min(args.chains, os.cpu_count()),
                  seed=1, progress_bar=False, adaptation="low_rank")
    t_row = time.perf_counter() - t0
    return {"pattern_fit_s": t_pat, "row_fit_s": t_row, "row_compile_s": t_c, "rows": n_rows,
            "patterns": len(out.data.count), "ratio_row_over_pattern": t_row / t_pat}


def part_growth(args) -> dict:
    from simstats.inference import fit
    from simstats.simulate import simulate_log
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    spec = load_spec(DEFAULT_SPEC_PATH)
    res = {}
    for n in [10**3, 10**4, 10**5, 10**6, 10**7]:
        per_cell = max(1, n // (6 * 8 * 2))
        t0 = time.perf_counter()
        pats, _ = simulate_log(spec, n_conditions=6, n_prompts=8, answers_per_cell=per_cell, seed=0)
        t_agg = time.perf_counter() - t0
        out = fit(spec, pats, draws=args.draws, tune=args.tune, chains=args.chains, seed=1, progress=False)
        res[n] = {"answers": pats.n_answers, "patterns": len(pats.table), "simulate+aggregate_s": t_agg,
                  "fit_s": out.timings["total"], "sample_s": out.timings.get("sample"),
                  "converged": out.converged}
        print(n, res[n], flush=True)
    first, last = res[10**3]["fit_s"], res[10**7]["fit_s"]
    return {"by_size": res, "ratio_1e7_over_1e3": last / first}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="real,rows,growth")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", default="nutpie")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--json")
    ap.add_argument("--_child")
    args = ap.parse_args()
    if args._child == "real":
        print(json.dumps(_fit_real(args), default=float))
        return
    results = {}
    parts = args.parts.split(",")
    if "real" in parts:
        with tempfile.TemporaryDirectory() as d:
            os.environ["PYTENSORFLAGS"] = f"base_compiledir={d}"
            os.environ["NUMBA_CACHE_DIR"] = str(Path(d) / "numba_cache")
            cold = child_real(args)
            warm = child_real(args)
        os.environ.pop("PYTENSORFLAGS", None)
        results["real"] = {"cold": cold, "warm": warm, "cold_over_warm": cold["total"] / warm["total"]}
        print("real cold:", cold, "\nreal warm:", warm, flush=True)
    if "rows" in parts:
        results["rows"] = part_rows(args)
        print("rows:", results["rows"], flush=True)
    if "growth" in parts:
        results["growth"] = part_growth(args)
        print("growth ratio 1e7/1e3:", results["growth"]["ratio_1e7_over_1e3"], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
