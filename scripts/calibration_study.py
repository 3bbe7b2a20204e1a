"""Interval coverage and simulation-based calibration of the default persona model (issue 4, items 2 and 3).

Each replication draws all parameters from the model's prior, simulates a log of the design, fits it with nutpie
(one compiled model for all replications) and records ranks and interval coverage
(simstats.validation.calibration).

    python scripts/calibration_study.py --design small --replications 60
    python scripts/calibration_study.py --design realistic --replications 20

Writes, under --out (default validation/): calibration_<design>.parquet (every record), calibration_<design>.md (the
coverage and SBC tables with the settings) and calibration_<design>_ranks.png (rank histograms). Records are
appended to the Parquet file after every replication, so a long run can be stopped and resumed (--resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from simstats.plots import plot_rank_histograms
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation.calibration import (CalibrationStudy, coverage_table, realistic_design, sbc_table,
                                             small_design)


def _markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = [df.index.name or "group", *df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        vals = [f"{v:{floatfmt}}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(idx), *vals]) + " |")
    return "\n".join(lines)


#: posterior draws each true value is ranked among (CalibrationStudy's default)
N_RANKS = 99


def replications(rec: pd.DataFrame) -> pd.DataFrame:
    """One row per replication: status, max R-hat, divergences, seconds, smallest true share, 90% coverage of its
    shares."""
    sh = rec[rec["group"] == "persona shares"]
    return sh.groupby("replication").agg(status=("status", "first"), max_rhat=("max_rhat", "first"),
                                         divergences=("divergences", "first"), seconds=("seconds", "first"),
                                         smallest_true_share=("truth", "min"), shares_in_90=("in90", "mean"))


def fitted_as(spec, fits: pd.DataFrame) -> str:
    """How the replications of a ``--user-defaults`` study were fitted, from their records."""
    s = spec.sampler
    ladder = int((fits["ladder"] > 0).sum()) if "ladder" in fits else 0
    rung = int((fits["parametrization"] != spec.hierarchy.parametrization).sum()) if "parametrization" in fits else 0
    return (f"each log fitted as `simstats fit` does (nutpie, {s.chains} chains, tune {s.tune}, target_accept "
            f"{s.target_accept}, sampled to the gate within {s.draws:,} draws per chain: median "
            f"{fits['draws'].median():.0f} drawn; the divergence ladder ran in {ladder} fits, its funnel rung "
            f"(parametrization = \"adaptive\") in {rung})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", choices=["small", "realistic"], default="small")
    ap.add_argument("--replications", type=int, default=60)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--target-accept", type=float, default=None)
    ap.add_argument("--seed", type=int, default=20251128)
    ap.add_argument("--spec", default=str(DEFAULT_SPEC_PATH))
    ap.add_argument("--out", default="validation")
    ap.add_argument("--resume", action="store_true", help="keep the records already in the Parquet file")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop starting new replications after this")
    ap.add_argument("--condition-coef-sd", type=float, default=None,
                    help="the prior sd of the condition effects, for drawing and fitting (default: the spec's); the "
                         "default spec's 5 draws base models whose log-odds differ by up to ~10")
    ap.add_argument("--user-defaults", action="store_true",
                    help="fit each log as `simstats fit` does (the spec's sampler settings, sampled to the gate, the "
                         "divergence ladder), compiling for each; --draws/--tune/--target-accept are then unused")
    ap.add_argument("--table", action="store_true",
                    help="only write the tables and rank plot from the records already in the Parquet file")
    a = ap.parse_args()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    design = small_design() if a.design == "small" else realistic_design()
    spec = load_spec(a.spec)
    if a.condition_coef_sd is not None:
        spec = dataclasses.replace(spec, conditions=dataclasses.replace(spec.conditions, coef_sd=a.condition_coef_sd))
    stem = (f"calibration_{design.name}" + ("_defaults" if a.user_defaults else "")
            + (f"_coef_sd_{a.condition_coef_sd:g}" if a.condition_coef_sd is not None else ""))
    store = out / f"{stem}.parquet"
    t0 = time.perf_counter()
    done = pd.read_parquet(store) if (a.resume or a.table) and store.exists() else pd.DataFrame()
    if a.table and not len(done):
        raise SystemExit(f"--table: no records in {store}")
    have = set(done["replication"]) if len(done) else set()
    recs = [done] if len(done) else []
    if not a.table:
        study = CalibrationStudy(spec, design, draws=a.draws, tune=a.tune, chains=a.chains,
                                 target_accept=a.target_accept, user_defaults=a.user_defaults)
        print(f"compiled in {time.perf_counter() - t0:.0f} s; design {design}", flush=True)
        prior = study.prior_draws(a.replications, a.seed)
        seeds = np.random.SeedSequence(a.seed).generate_state(a.replications)
    for i in range(0 if a.table else a.replications):
        if i in have:
            continue
        if a.max_minutes and time.perf_counter() - t0 > 60 * a.max_minutes:
            print(f"time limit reached after {i} replications", flush=True)
            break
        r = study.replicate(i, prior[i], int(seeds[i]))
        recs.append(r)
        pd.concat(recs, ignore_index=True).to_parquet(store.with_suffix(".tmp"))
        store.with_suffix(".tmp").replace(store)
        print(f"replication {i + 1}/{a.replications}: {r['status'].iat[0]}, max R-hat {r['max_rhat'].iat[0]:.3f}, "
              f"{r['divergences'].iat[0]} divergences, {r['seconds'].iat[0]:.0f} s", flush=True)
    rec = pd.concat(recs, ignore_index=True)
    cov, sbc = coverage_table(rec), sbc_table(rec, n_ranks=N_RANKS)
    fits = rec.drop_duplicates("replication")
    status = fits["status"].value_counts().to_dict()
    print(cov.to_string(float_format="%.3f"))
    print(sbc.to_string(float_format="%.3f"))
    fig = plot_rank_histograms(rec, n_ranks=N_RANKS)
    fig.savefig(out / f"{stem}_ranks.png")
    changed = f" with `[conditions] coef_sd = {a.condition_coef_sd:g}`" if a.condition_coef_sd is not None else ""
    md = [f"# Calibration of `{Path(a.spec).name}`{changed}: {design.name} design", "",
          f"Design: {design.n_conditions} conditions"
          + (f" in {len(design.groups)} groups {design.groups}" if design.groups else "")
          + f", {design.n_questions} questions x {len(design.formats)} formats, {design.answers_per_cell} answers per "
          f"cell = {design.n_answers} answers per log. Parameters drawn from the model's prior; " + (fitted_as(spec, fits)
          if a.user_defaults else f"nutpie {a.chains} x {a.draws} draws (tune {a.tune}, target_accept "
          f"{a.target_accept or spec.sampler.target_accept}), one compiled model, no ladder") + f"; seed {a.seed}; "
          f"{len(fits)} replications; fit status "
          f"{status}; median fit time {fits['seconds'].median():.0f} s on {platform.node()} (2 shared cores).", "",
          "## Interval coverage (nominal 50% and 90%)", "",
          "`cover90_ok_fits`: coverage among fits whose diagnostics were `ok` only. `se90`: binomial sd of the 90% "
          "coverage if the replications were the only source of variation (quantities within a replication are "
          "correlated, so this is the relevant scale).", "", _markdown(cov), "",
          "## Simulation-based calibration (Talts et al. 2018)", "",
          f"Ranks of the true value among {N_RANKS} thinned posterior draws; chi-square test of uniformity "
          "over 10 rank bins, ranks pooled over each group's quantities (pooling makes the test liberal: ranks "
          "within a replication are dependent); `min_p_quantity_bonferroni`: the smallest per-quantity p-value "
          "times the number of quantities.", "", _markdown(sbc), "",
          f"![rank histograms]({stem}_ranks.png)", "",
          "## Replications", "",
          "Each fit's status, and the smallest true persona share of its log (a persona all but absent from a "
          "condition bounds that condition's log-odds on one side only, where the sampler meets a funnel).", "",
          _markdown(replications(rec), floatfmt=".3g"), ""]
    (out / f"{stem}.md").write_text("\n".join(md))
    print(f"wrote {out}/{stem}.md, .parquet, _ranks.png in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
