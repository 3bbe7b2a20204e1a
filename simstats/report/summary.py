"""A plain summary of checked logs: what ``simstats data check`` prints."""

from __future__ import annotations

import pandas as pd

from simstats.logs import MISSING_BIN, Grid, LogSet
from simstats.theory.rules import Behaviour


def threshold_hits(table: pd.DataFrame, grids: dict[str, Grid], behaviour: Behaviour) -> pd.Series:
    """Which patterns meet a thresholded behaviour on binned scores (:meth:`Behaviour.pattern_hits`).

    Exact when the thresholds are bin edges (true for the default integer grid and for 10-point bins), except for
    a score of exactly the threshold of a ``>`` clause, which has probability zero for probability-weighted judge
    scores.
    """
    return pd.Series(behaviour.pattern_hits(table, grids), index=table.index)


class Summary(dict):
    """The summary dict (JSON-ready), shown as an HTML table in Jupyter."""

    def _repr_html_(self) -> str:
        from simstats.report.html import summary_html

        return summary_html(self)


def summarise(logs: LogSet, behaviour: Behaviour | None = None) -> Summary:
    """Accounting, conditions, prompts, features, measures and verdicts of a set of logs, and the observed rate per
    condition of each thresholded behaviour the roles declare (or of ``behaviour``).

    >>> from simstats.datasets import load_dataset
    >>> s = summarise(load_dataset().logs)
    >>> s["rows_read"] == s["rows_used"] + sum(s["excluded"].values())
    True
    """
    acc = logs.accounting()
    pats = logs.patterns()
    t = pats.table
    per_cond = t.groupby("condition")["count"].sum()
    out = Summary({
        "rows_read": acc.rows_read,
        "rows_used": acc.rows_used,
        "excluded": dict(sorted(acc.excluded.items())),
        "files": len(logs.files),
        "rows_per_file": acc.files,
        "files_skipped": [str(p) for p in logs.skipped],
        "conditions": {str(k): int(v) for k, v in per_cond.items()},
        "condition_levels": pats.condition_levels,
        "n_conditions": int(per_cond.size),
        "n_prompts": int(t["prompt"].nunique()),
        "features": {f: sorted(map(str, t[f].unique())) for f in pats.features},
        "measures": {m: {"missing": int(t.loc[t[m] == MISSING_BIN, "count"].sum()), **pats.grids[m].to_dict()}
                     for m in pats.measures},
        "n_patterns": len(t),
    })
    if pats.verdict_levels:
        out["verdicts"] = {str(k): int(v) for k, v in t.groupby("verdict")["count"].sum().items()}
    declared = [behaviour] if behaviour is not None else [Behaviour.parse(n, r) for n, r in pats.behaviours.items()]
    rates = {}
    for b in declared:
        hit = threshold_hits(t, pats.grids, b)
        rate = (t["count"] * hit).groupby(t["condition"]).sum() / per_cond
        rates[b.name] = {"rule": b.describe(), "rate": {str(k): round(float(v), 4) for k, v in rate.items()}}
    if rates:                                   # the first behaviour also under the keys older reports had
        first = next(iter(rates.values()))
        out["threshold_rule"], out["threshold_rate"] = first["rule"], first["rate"]
        out["behaviours"] = rates
    return out
