"""The fingerprint-transfer recovery study (issue 15): a small log fitted with and without the fingerprints of a
large one, on simulated logs with known truth.

Each replication draws one truth (the default persona mixture on 4 conditions x 6 questions), with fingerprints
away from the anchors (``fingerprint_concentration``: real personas are not their anchors), writes a large log of
that truth (``--big`` answers per condition and question) and a small log of another draw of the shares with the
same fingerprints (``--small`` answers per condition and question: 30 per condition by default), fits the large
log, then the small log three ways: its own fingerprints (anchored priors), the large fit's as priors
(``fingerprints_from``) and held fixed (``fingerprints_fixed``). Per way it records, over every condition x persona
share of the small log, the mean 90% interval width, the coverage of the truth, the largest error of the
posterior mean and the diagnostics status. Writes ``validation/transfer_recovery.json`` and prints the table.

    PYTHONPATH=$PWD .venv/bin/python scripts/transfer_study.py --reps 3 --draws 300
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import simstats
from simstats.logs import load_roles, open_logs
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation import Design, simulate

WAYS = {"own fingerprints": {}, "transferred (prior)": {"fixed": False}, "transferred (fixed)": {"fixed": True}}


def _patterns(sim, folder: Path, name: str):
    paths = sim.write(folder / f"{name}.csv")
    return open_logs(paths["log"], load_roles(paths["roles"])).patterns()


def replication(seed: int, big: int, small: int, draws: int, concentration: float) -> list[dict]:
    spec = load_spec(DEFAULT_SPEC_PATH)
    design = Design(levels=("model",), groups=(4,), baseline=None, questions=6, features={}, answers=big)
    truth_big = simulate(spec, design=design, seed=seed, fingerprint_concentration=concentration)
    small_truth = simulate(spec, design=dataclasses.replace(design, answers=small), seed=seed + 1000,
                           fingerprint_concentration=concentration).truth
    for key in ("fingerprints", "categories", "verdict"):       # the same personas, other shares
        small_truth["parameters"][key] = truth_big.truth["parameters"][key]
    small_sim = simulate(spec, truth=small_truth, seed=seed + 2000)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pb, ps = _patterns(truth_big, Path(tmp), "big"), _patterns(small_sim, Path(tmp), "small")
        t0 = time.perf_counter()
        source = simstats.fit(spec, pb, draws=draws, tune=draws, chains=2, seed=seed, progress=False)
        big_s = time.perf_counter() - t0
        truth = small_sim.truth["shares"]
        for way, kw in WAYS.items():
            t0 = time.perf_counter()
            extra = {} if not kw else {"fingerprints_from": source, "fingerprints_fixed": kw["fixed"]}
            r = simstats.fit(spec, ps, draws=draws, tune=draws, chains=2, seed=seed, progress=False, **extra)
            sh = r.shares()
            t = np.array([truth[c][p] for c, p in sh.index])
            cover = (sh["low"].to_numpy() <= t) & (t <= sh["high"].to_numpy())
            d = r.diagnostics
            fp_true = small_sim.truth["parameters"]["fingerprints"]
            fp_err = float(np.mean([np.abs(r.fingerprint_draws(m).mean(axis=(0, 1))
                                           - np.array([fp_true[m][p] for p in spec.persona_names])).mean()
                                    for m in spec.measure_names]))
            rows.append({"seed": seed, "way": way, "width": float((sh["high"] - sh["low"]).mean()),
                         "fingerprint_error": fp_err,
                         "coverage": float(cover.mean()), "n_shares": len(t),
                         "max_error": float(np.abs(sh["mean"].to_numpy() - t).max()),
                         "status": d.status, "divergences": int(d.divergences), "max_rhat": float(d.max_rhat),
                         "source_status": source.diagnostics.status, "source_seconds": round(big_s, 1),
                         "seconds": round(time.perf_counter() - t0, 1), "messages": d.messages[:3]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 1..reps)")
    ap.add_argument("--previous", default=None, help="a JSON this script wrote: its replications are kept")
    ap.add_argument("--big", type=int, default=100, help="answers per condition and question, large log")
    ap.add_argument("--small", type=int, default=5, help="answers per condition and question, small log")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--concentration", type=float, default=30.0)
    ap.add_argument("--out", default="validation/transfer_recovery.json")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else list(range(1, a.reps + 1))
    rows = json.loads(Path(a.previous).read_text())["replications"] if a.previous else []
    rows += [r for seed in seeds for r in replication(seed, a.big, a.small, a.draws, a.concentration)]
    table = {}
    for way in WAYS:
        sel = [r for r in rows if r["way"] == way]
        table[way] = {"mean_width": float(np.mean([r["width"] for r in sel])),
                      "fingerprint_error": float(np.mean([r.get("fingerprint_error", np.nan) for r in sel])),
                      "coverage": float(np.mean([r["coverage"] for r in sel])),
                      "max_error": float(np.max([r["max_error"] for r in sel])),
                      "statuses": [r["status"] for r in sel]}
    out = {"settings": vars(a), "interval": 0.9, "summary": table, "replications": rows}
    Path(a.out).write_text(json.dumps(out, indent=2))
    for way, t in table.items():
        print(f"{way:22s} width {t['mean_width']:.3f}  fingerprint error {t['fingerprint_error']:.4f}  coverage {t['coverage']:.2f}  max error {t['max_error']:.3f}"
              f"  {t['statuses']}")


if __name__ == "__main__":
    main()
