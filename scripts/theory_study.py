"""Does the theory hold on the real logs? Fit every alternative spec to the bundled log and compare by PSIS-LOO (issue 5).

Fits, one after the other (each in its own `simstats fit` process, so a crash or a stop loses only that fit):

    persona_mixture_k1 .. k5   (k4 is the default spec, models/persona_mixture.toml)
    degradation                (no personas: one bounded score distribution per condition)
    per_condition_fingerprints (personas whose fingerprints differ by condition)

then runs `simstats compare` on all of them and writes, under --out (default validation/):

    theory_real.json   the comparison (ELPD, differences, dse, stacking weights, Pareto-k warnings) and each fit's
                       diagnostics, settings and wall time
    theory_real.md     the same as tables

    python scripts/theory_study.py                       # all fits (hours on 2 cores), then the comparison
    python scripts/theory_study.py --runs runs/theory    # where the fitted runs go; existing ones are reused
    python scripts/theory_study.py --reuse k4=simstats-demo/run   # use a finished default fit for k4

Existing run folders are reused (their settings are read from meta.json), so a stopped study resumes.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> spec file; the order is the order the fits run in (cheapest and most informative first).
MODELS: dict[str, str] = {
    "k4": "models/persona_mixture.toml",
    "degradation": "models/degradation.toml",
    "k1": "models/persona_mixture_k1.toml",
    "k2": "models/persona_mixture_k2.toml",
    "k3": "models/persona_mixture_k3.toml",
    "k5": "models/persona_mixture_k5.toml",
    "per_condition_fingerprints": "models/per_condition_fingerprints.toml",
}


def _simstats() -> list[str]:
    return [str(Path(sys.executable).parent / "simstats")]


def _fit(name: str, spec: str, run: Path, args: argparse.Namespace) -> dict:
    cmd = [*_simstats(), "fit", str(ROOT / spec), "--out", str(run), "--seed", str(args.seed), "--json"]
    for flag in ("draws", "tune", "chains"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    print(f"[{time.strftime('%H:%M:%S')}] fitting {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (run.parent / f"{name}.log").write_text(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        print(f"  {name} failed (exit {proc.returncode}); see {run.parent / (name + '.log')}", flush=True)
        return {"wall_s": wall, "error": proc.stderr[-2000:]}
    print(f"  {name} done in {wall:.0f} s", flush=True)
    return {"wall_s": wall}


def _diagnostics(result, run: Path) -> dict:
    diag = result.diagnostics
    meta = json.loads((run / "meta.json").read_text())
    return {
        "status": diag.status,
        "max_rhat": diag.max_rhat,
        "min_ess_bulk": diag.min_ess_bulk,
        "min_ess_tail": diag.min_ess_tail,
        "divergences": diag.divergences,
        "draws": int(result.idata.posterior.sizes["draw"]),
        "chains": int(result.idata.posterior.sizes["chain"]),
        "seed": meta.get("seed"),
        "sample_s": (meta.get("timings") or {}).get("sample"),
        "total_s": (meta.get("timings") or {}).get("total"),
    }


#: the questions the study asks, as (model a, model b): "is a better than b?" with a paired SE
PAIRS = [("k4", "degradation"), ("k5", "degradation"), ("k2", "k1"), ("k3", "k2"), ("k4", "k3"), ("k5", "k4"),
         ("per_condition_fingerprints", "k4"), ("per_condition_fingerprints", "k5")]


def _pairs(results: dict) -> list[dict]:
    """ELPD of a minus b with the SE of the paired per-answer differences, for each of :data:`PAIRS` that was
    fitted. The main table gives each model against the best only; these are the contrasts the theory is about."""
    from simstats.results.compare import compare

    out = []
    for a, b in PAIRS:
        if a in results and b in results:
            t = compare({a: results[a], b: results[b]})           # pattern LOO is cached on each result
            # ArviZ 1: elpd_diff is each model minus the best (<= 0)
            diff = -float(t.loc[b, "elpd_diff"]) if t.index[0] == a else float(t.loc[a, "elpd_diff"])
            dse = float(t.loc[t.index[1], "dse"])
            out.append({"a": a, "b": b, "elpd_diff": diff, "dse": dse, "z": diff / dse if dse else None})
    return out


def _markdown(report: dict, fits: dict) -> str:
    lines = [
        "# Does the theory hold on the bundled real log? (scripts/theory_study.py)",
        "",
        f"Machine: {platform.node()} ({platform.processor() or platform.machine()}), "
        f"{time.strftime('%Y-%m-%d')}. Log: the bundled clarifying-em log (20,880 answers, 18 checkpoints).",
        "",
        "## PSIS-LOO per answer, best first",
        "",
        "| model | elpd_loo | se | elpd_diff | dse | diff / dse | weight | p_loo | warnings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in report["models"]:
        ratio = "" if m["dse"] == 0 else f"{-m['elpd_diff'] / m['dse']:.1f}"
        lines.append(
            f"| {m['name']} | {m['elpd_loo']:.1f} | {m['se']:.1f} | {m['elpd_diff']:.1f} | {m['dse']:.1f} | {ratio} "
            f"| {m['weight']:.3f} | {m['p_loo']:.1f} | {'; '.join(m['warnings'])} |"
        )
    if report.get("pairs"):
        lines += ["", "## The contrasts the theory is about (a minus b, paired over answers)", "",
                  "| a | b | elpd(a) - elpd(b) | dse | in dse |", "|---|---|---|---|---|"]
        for p in report["pairs"]:
            z = "" if p["z"] is None else f"{p['z']:.1f}"
            lines.append(f"| {p['a']} | {p['b']} | {p['elpd_diff']:.1f} | {p['dse']:.1f} | {z} |")
    lines += [
        "",
        "## The fits",
        "",
        "Fit time: each run's own `timings.total` (meta.json); the fits shared the 2 cores with one another, so the",
        "seconds are pessimistic.",
        "",
        "| model | status | max R-hat | min bulk / tail ESS | divergences | chains x draws | fit time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in fits.items():
        if f.get("not_fitted"):
            lines.append(f"| {name} | not fitted (see notebooks/theory.ipynb) | | | | | |")
            continue
        if "status" not in f:
            lines.append(f"| {name} | fit failed | | | | | {f.get('wall_s', 0):.0f} |")
            continue
        wall = f"{f['total_s']:.0f}" if f.get("total_s") else ""
        lines.append(
            f"| {name} | {f['status']} | {f['max_rhat']:.3f} | {f['min_ess_bulk']:.0f} / {f['min_ess_tail']:.0f} "
            f"| {f['divergences']} | {f['chains']} x {f['draws']} | {wall} |"
        )
    by = report.get("by_condition")
    if by:
        import pandas as pd

        df = pd.DataFrame(by["rows"])
        df = df[df.model != by["reference"]]
        lines += ["", f"## ELPD difference to {by['reference']} by condition (model minus {by['reference']}; dse)", ""]
        models = list(dict.fromkeys(df.model))
        lines += ["| condition | answers | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
        for cond, g in df.groupby("condition", sort=False):
            g = g.set_index("model")
            cells = [f"{g.loc[m, 'elpd_diff']:.1f} ({g.loc[m, 'dse']:.1f})" for m in models]
            lines.append(f"| {cond} | {int(g['n_answers'].iloc[0])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/theory", help="folder for the fitted runs (one subfolder per model)")
    ap.add_argument("--out", default="validation")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--reuse", action="append", default=[], help="NAME=RUN_FOLDER: use a finished fit for NAME")
    ap.add_argument("--seed", type=int, default=20251128)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--fit-only", action="store_true", help="fit, do not compare")
    ap.add_argument("--no-fit", action="store_true", help="compare the runs that exist; fit nothing (the others are "
                    "listed as not fitted)")
    args = ap.parse_args()

    runs_dir = Path(args.runs)
    runs_dir.mkdir(parents=True, exist_ok=True)
    reused = dict(item.split("=", 1) for item in args.reuse)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")

    from simstats.results import load_result

    results: dict = {}                      # loaded once: a real-log run takes ~20 s to read
    fits: dict[str, dict] = {}
    for name in names:
        run = Path(reused[name]) if name in reused else runs_dir / name
        info: dict = {}
        if not (run / "meta.json").exists():
            info = {"not_fitted": True} if args.no_fit else _fit(name, MODELS[name], run, args)
        if (run / "meta.json").exists():
            results[name] = load_result(run)
            info.update(_diagnostics(results[name], run))
        fits[name] = info
        (runs_dir / "fits.json").write_text(json.dumps(fits, indent=2, default=float))

    if args.fit_only or len(results) < 2:
        return
    from simstats.results.compare import compare, comparison_json, elpd_by_condition

    table = compare(results)
    report = comparison_json(table)
    best = report["models"][0]["name"]
    by = elpd_by_condition(results, reference=best)
    report["by_condition"] = {"reference": best, "rows": by.to_dict(orient="records")}
    report["pairs"] = _pairs(results)
    report["fits"] = fits
    # each persona model's shares, to see whether the headline numbers move with K
    report["shares"] = {name: r.shares().reset_index().to_dict(orient="records")
                        for name, r in results.items() if r.kind == "mixture"}
    report["settings"] = {"seed": args.seed, "draws": args.draws, "tune": args.tune, "chains": args.chains}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "theory_real.json").write_text(json.dumps(report, indent=2, default=float))
    (out / "theory_real.md").write_text(_markdown(report, fits))
    print((out / "theory_real.md").read_text())


if __name__ == "__main__":
    main()
