"""Cost of one log-density gradient of each model spec on the bundled real log (PyTensor C backend, best of N).

    .venv/bin/python bench/gradient_cost.py models/persona_mixture.toml models/degradation.toml

Prints each spec's time per gradient and its ratio to the first spec's, measured in the same process (the machine
is shared: compare ratios, not seconds). Why it exists: the degradation spec's binned Beta needs the incomplete beta
function's derivatives in its shape parameters at every bin edge of every (condition, prompt) cell, a series
evaluation each, where the persona mixture looks up fingerprint tables.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from simstats.datasets import load_dataset
    from simstats.kinds import build_model
    from simstats.spec import load_spec

    patterns = load_dataset("clarifying_em").patterns
    timings = {}
    for path in args.specs:
        model, data = build_model(load_spec(path), patterns)
        dlogp = model.compile_dlogp()
        point = model.initial_point()
        dlogp(point)                                                    # warm up
        best = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            dlogp(point)
            best = min(best, time.perf_counter() - t0)
        timings[path] = best
        print(f"{path}: {len(data.count)} patterns, {len(data.cell_count)} cells, "
              f"{1e3 * best:.2f} ms per gradient", flush=True)
    ref = next(iter(timings.values()))
    for path, t in timings.items():
        print(f"  {path}: {t / ref:.1f}x the first spec")


if __name__ == "__main__":
    main()
