"""Shared steps of the worked analyses on simulated logs (weird generalisation, inductive backdoor): write the
log, fit it through its roles as a user's log, and set the fitted shares per (checkpoint, feature level) beside the
truth the log was drawn from."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pandas as pd
from common import RESULTS, fit_summary, logs, run_or_load, table
from scenarios import Scenario


def fit_scenario(sc: Scenario, args: argparse.Namespace, rule: Callable[[pd.DataFrame], pd.Series]
                 ) -> tuple[Any, dict[str, Any]]:
    """Write ``sc``'s log to ``notebooks/results/<name>.csv``, fit ``models/<name>.toml`` to it and return the
    result and the summary tables: the recovery table (fitted against true shares) and its coverage, and the
    empirical rate of the spec's behaviour (``rule`` of the mapped rows) per condition and feature level."""
    path = sc.write(RESULTS)
    ls = logs(f"{sc.name}.toml", [path])
    result, wall = run_or_load(sc.name, f"{sc.name}.toml", ls.patterns(), args)
    out = fit_summary(result, wall)
    out["log"] = {"path": str(path.relative_to(RESULTS.parent.parent)), "rows": len(sc.rows), "seed": sc.seed,
                  "accounting": ls.accounting().to_dict()["excluded"]}
    out["notes"] = list(result.data.notes)
    rec = recovery(result, sc)
    out["recovery"] = table(rec)
    out["coverage"] = {"cells": len(rec), "covered": int(rec["covered"].sum()),
                       "max_abs_error": round(float((rec["mean"] - rec["truth"]).abs().max()), 4)}
    rows = ls.rows()
    out["empirical_rule"] = table(rule(rows).groupby([rows["condition"], rows[sc.feature]]).mean()
                                  .rename("rate").reset_index())
    return result, out


def recovery(result, sc: Scenario) -> pd.DataFrame:
    """Fitted shares per (condition, feature level, persona) with the true share and whether the 90% interval
    covers it."""
    fs = result.feature_shares(sc.feature).reset_index()
    truth = sc.truth_table().rename(columns={"share": "truth"})
    rec = fs.merge(truth, on=["condition", sc.feature, "persona"], how="left", validate="one_to_one")
    assert rec["truth"].notna().all(), rec
    rec["covered"] = (rec["low"] <= rec["truth"]) & (rec["truth"] <= rec["high"])
    return rec


def contrasts(result, pairs: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """``{label: table}`` of :meth:`FitResult.contrast` for each (a, b, keyword arguments)."""
    return {f"{a} - {b}" + "".join(f" [{k}={v}]" for k, v in kw.items()): table(result.contrast(a, b, **kw))
            for a, b, kw in pairs}

