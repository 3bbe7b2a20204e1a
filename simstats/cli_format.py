"""Console rendering of a data summary (shared by `simstats data check` and `simstats demo`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_summary(s: dict, out: Console) -> None:
    """Print the summary of `simstats data check` as a sentence, a table per condition and notes."""
    excluded = sum(s["excluded"].values())
    out.print(f"[bold]{s['rows_read']}[/] rows read from {s['files']} file(s): [green]{s['rows_used']} used[/], "
              f"{excluded} excluded" + (f" ({', '.join(f'{k}: {v}' for k, v in s['excluded'].items())})"
                                        if excluded else ""))
    if s["files_skipped"]:
        out.print(f"skipped {len(s['files_skipped'])} non-log file(s): {', '.join(s['files_skipped'][:5])}")
    table = Table("condition", "answers", *(["threshold rate"] if "threshold_rate" in s else []),
                  title=f"{s['n_conditions']} conditions, {s['n_prompts']} prompts, {s['n_patterns']} unique patterns")
    for cond, n in s["conditions"].items():
        extra = [f"{s['threshold_rate'][cond]:.1%}"] if "threshold_rate" in s else []
        table.add_row(cond, str(n), *extra)
    out.print(table)
    for m, info in s["measures"].items():
        out.print(f"measure {m}: {info['missing']} empty (kept as an observation), grid [{info['lower']:g}, "
                  f"{info['upper']:g}] in {info['n_bins']} bins")
    for f, levels in s["features"].items():
        out.print(f"prompt feature {f}: {', '.join(levels)}")
