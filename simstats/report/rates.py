"""The classic rate model's report: its JSON (``simstats rates --json``, the demo's ``rates.json``) and its table
on a rich console."""

from __future__ import annotations

from typing import Any


def rate_report(result) -> dict[str, Any]:
    """The JSON of ``simstats rates --json`` (and the demo's ``rates.json``): the rule, the hierarchy, the
    diagnostics and, per condition, ``n``, ``k``, the ``empirical`` rate, the pooled ``mean`` with ``low``/``high``
    and the unpooled ``jeffreys_low``/``jeffreys_high``."""
    d = result.diagnostics
    cols = ["n", "k", "rate", "mean", "low", "high", "jeffreys_low", "jeffreys_high"]
    return {"rule": result.rule.describe(), "levels": result.levels,
            "diagnostics": {"max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail,
                            "divergences": d.divergences, "status": d.status, "messages": d.messages},
            "conditions": {c: {("empirical" if k == "rate" else k): float(v) for k, v in row.items()}
                           for c, row in result.table[cols].iterrows()}}


def print_rate_report(report: dict[str, Any], console=None) -> None:
    """The rates table of :func:`rate_report` (empirical, pooled and Jeffreys per condition) on a rich console."""
    from rich.table import Table

    from simstats.report.text import plain_console

    con = console or plain_console()
    t = Table("condition", "n", "hits", "empirical", "pooled [90%]", "Jeffreys [90%] (unpooled)",
              title=f"Rate of {report['rule']}, pooled over " + " -> ".join([*report["levels"], "condition"]))
    pct = lambda x: f"{100 * x:.1f}%"
    for c, row in report["conditions"].items():
        t.add_row(str(c), str(int(row["n"])), str(int(row["k"])), pct(row["empirical"]),
                  f"{pct(row['mean'])} [{pct(row['low'])}, {pct(row['high'])}]",
                  f"[{pct(row['jeffreys_low'])}, {pct(row['jeffreys_high'])}]")
    con.print(t)
    d = report["diagnostics"]
    tail = f"min tail ESS {d['min_ess_tail']:.0f}, " if d.get("min_ess_tail") is not None else ""  # older reports
    con.print(f"{d['status']}: max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, {tail}"
              f"{d['divergences']} divergences", highlight=False)
    for message in d.get("messages") or []:
        con.print(f"  {message}", highlight=False)


__all__ = ["print_rate_report", "rate_report"]
