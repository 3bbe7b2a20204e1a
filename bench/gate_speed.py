"""Sampling to the gate against fixed draws: the default fit of the bundled log both ways, in one process.

The gated fit runs first, so that whatever the compile caches give goes to the reference (the fixed-draws fit
of the spec's 1,500 draws per chain). Prints each fit's seconds (compile, sampling, total), draws per chain,
leapfrog steps and diagnostics, and the ratios gated / fixed. No timed asserts.

Usage: ``python bench/gate_speed.py [--seed 1] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_fit(until: str, seed: int, tune: int | None = None) -> dict:
    """The default fit of the bundled log (``tune``: warm-up steps per chain, default the spec's) and its numbers."""
    from simstats.datasets import load_dataset
    from simstats.inference import fit
    from simstats.spec import DEFAULT_SPEC_PATH, load_spec

    spec, pats = load_spec(DEFAULT_SPEC_PATH), load_dataset("clarifying_em").patterns
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fit(spec, pats, seed=seed, progress=False, until=until, tune=tune)
    wall = time.perf_counter() - t0
    d = out.diagnostics
    steps = int(out.idata["sample_stats"]["n_steps"].sum())
    return {"until": until, "tune": out.settings.get("tune", tune), "wall_s": round(wall, 1), "compile_s": round(out.timings.get("compile", 0), 1),
            "sample_s": round(out.timings.get("sample", 0), 1), "draws_per_chain": out.settings["draws"],
            "leapfrog_steps": steps, "status": d.status, "max_rhat": round(d.max_rhat, 4),
            "min_ess_bulk": round(d.min_ess_bulk), "min_ess_tail": round(d.min_ess_tail),
            "divergences": d.divergences, "ladder_runs": len(out.settings["ladder"]),
            "gate": None if out.settings["gate"] is None else
            {k: v for k, v in out.settings["gate"].items() if k != "checks"} | {"checks": len(out.settings["gate"]["checks"])}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    gated = one_fit("gate", a.seed)
    print(json.dumps(gated), flush=True)
    fixed = one_fit("draws", a.seed)
    print(json.dumps(fixed), flush=True)
    ratios = {k: round(gated[k] / fixed[k], 3) for k in ("wall_s", "sample_s", "leapfrog_steps") if fixed[k]}
    print("gated / fixed:", json.dumps(ratios))
    if a.json:
        Path(a.json).write_text(json.dumps({"gated": gated, "fixed": fixed, "ratios": ratios}, indent=1) + "\n")


if __name__ == "__main__":
    main()
