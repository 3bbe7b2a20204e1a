"""Shared plumbing of the worked analyses (issue 15 item 7): find the shared logs, fit, save the run and a small
JSON of summary tables for the notebooks.

Each analysis script fits its spec(s) on the real logs in ``../shared/data`` (relative to the repository root) with
the spec's default chains, saves the full run under ``runs/analyses/<name>/`` (not committed) and the summary
tables (shares, effects, contrasts, dose curves, diagnostics, wall time) to ``notebooks/results/<name>.json``.
``--from-runs`` rebuilds the JSON from the saved runs without refitting (e.g. after a new table lands in simstats).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import simstats

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
MODELS = ROOT / "models"
RESULTS = ROOT / "notebooks" / "results"
RUNS = ROOT / "runs" / "analyses"


def logs(roles: str | Path, paths: list[Path]) -> simstats.LogSet:
    """Open ``paths`` with a roles TOML from ``models/roles``."""
    return simstats.open_logs([str(p) for p in paths], simstats.load_roles(MODELS / "roles" / roles))


def table(df: pd.DataFrame, digits: int = 4) -> dict[str, Any]:
    """A DataFrame as ``{"index": [...], "columns": [...], "data": [[...]]}`` (pandas' split orient), rounded."""
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    out = json.loads(df.to_json(orient="split", index=False, double_precision=digits))
    return {"columns": out["columns"], "data": out["data"]}


def from_table(t: dict[str, Any]) -> pd.DataFrame:
    """The inverse of :func:`table` (the notebooks read the saved tables with it)."""
    return pd.DataFrame(t["data"], columns=t["columns"])


def fit_summary(result: simstats.FitResult, wall_s: float) -> dict[str, Any]:
    """Diagnostics, wall time and the tables every analysis reports."""
    d = result.diagnostics
    out: dict[str, Any] = {
        "spec": result.spec.name,
        "wall_s": round(wall_s, 1),
        "sampler": {"name": result.sampler, **{k: v for k, v in result.meta.items() if v is not None}},
        "answers": int(result.patterns.n_answers),
        "diagnostics": {"status": d.status, "summary": d.summary(), "max_rhat": _num(d.max_rhat),
                        "min_ess_bulk": _num(d.min_ess_bulk), "divergences": int(d.divergences),
                        "messages": list(d.messages)},
        "shares": table(result.shares()),
        "fingerprints": table(result.fingerprints()),
    }
    fe = result.feature_effects()
    if len(fe):
        out["feature_effects"] = table(fe)
    ce = result.condition_effects()
    if len(ce):
        out["condition_effects"] = table(ce)
    if result.behaviours:
        out["behaviour_rates"] = {b.name: table(result.behaviour_rates(b.name)) for b in result.behaviours}
    if hasattr(result, "evidence"):                    # issue 15: FitResult.evidence (lands on main)
        out["evidence"] = table(result.evidence())
    return out


def _num(x: Any) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else round(x, 4)


def run_or_load(name: str, spec: str | Path, patterns: Any, args: argparse.Namespace,
                **fit_kw: Any) -> tuple[simstats.FitResult, float]:
    """Fit ``spec`` (saving the run to ``runs/analyses/<name>``), or load that run with ``from_runs``."""
    folder = RUNS / name
    if args.from_runs or (getattr(args, "reuse", False) and (folder / "wall.json").is_file()):
        result = simstats.load_result(folder)
        wall = json.loads((folder / "wall.json").read_text())["wall_s"]
        return result, wall
    t0 = time.perf_counter()
    budget = getattr(args, "budget", None)
    if budget is not None:                              # sample to the gate within this many draws per chain
        fit_kw = {"until": "gate", **fit_kw}
    result = simstats.fit(MODELS / spec, patterns, seed=args.seed, draws=budget or args.draws, tune=args.tune,
                          chains=args.chains, progress=False, **fit_kw)
    wall = time.perf_counter() - t0
    folder.parent.mkdir(parents=True, exist_ok=True)
    simstats.save_result(result, folder)
    (folder / "wall.json").write_text(json.dumps({"wall_s": wall}))
    print(f"{name}: {wall:.0f} s, {result.diagnostics.summary()}", flush=True)
    return result, wall


def main(name: str, build: Callable[[argparse.Namespace], dict[str, Any]]) -> None:
    """Parse the common flags, run ``build`` and write ``notebooks/results/<name>.json``."""
    ap = argparse.ArgumentParser(description=f"Worked analysis '{name}' (writes notebooks/results/{name}.json).")
    ap.add_argument("--from-runs", action="store_true", help="rebuild the tables from the saved runs, no refit")
    ap.add_argument("--reuse", action="store_true", help="load the saved runs that exist, fit only the others")
    ap.add_argument("--draws", type=int, default=None, help="override the spec's draws (say so in the report)")
    ap.add_argument("--budget", type=int, default=None,
                    help="sample to the convergence gate within this many draws per chain (instead of --draws)")
    ap.add_argument("--tune", type=int, default=None, help="override the spec's tuning steps")
    ap.add_argument("--chains", type=int, default=None, help="override the spec's chains")
    ap.add_argument("--seed", type=int, default=20261201)
    args = ap.parse_args()
    out = build(args)
    out["simstats_version"] = simstats.__version__
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=1, default=_json_default) + "\n")
    print("wrote", path)


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    raise TypeError(type(x).__name__)
