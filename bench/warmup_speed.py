"""Warm-up length against the time to a converged posterior: the default fit of the bundled log sampled to the gate
with the spec's 1,000 tuning steps per chain (the reference, first) and with fewer, in one process.

Warm-up was 86% of the gradient evaluations of the default fit (bench/README.md, gate_speed.py), so it is the lever
left once sampling stops at the gate. Prints each fit's seconds (compile, sampling, total), draws per chain after
warm-up, leapfrog steps after warm-up, diagnostics, and the ratios to the reference. No timed asserts.

Usage: ``python bench/warmup_speed.py [--tunes 1000,500,300] [--seed 1] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_speed import one_fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tunes", default="1000,500,300")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    runs = []
    for tune in [int(t) for t in a.tunes.split(",")]:
        runs.append(one_fit("gate", a.seed, tune))
        print(json.dumps(runs[-1]), flush=True)
    ref = runs[0]
    ratios = {r["tune"]: {k: round(r[k] / ref[k], 3) for k in ("wall_s", "sample_s", "leapfrog_steps") if ref[k]}
              for r in runs[1:]}
    print(f"against tune {ref['tune']}:", json.dumps(ratios))
    if a.json:
        Path(a.json).write_text(json.dumps({"runs": runs, "ratios": ratios}, indent=1) + "\n")


if __name__ == "__main__":
    main()
