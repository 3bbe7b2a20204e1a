"""The main job (`simstats demo`): bundled real logs → checks → persona-model fit → diagnostics → report and
figures, with a progress display."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console


def run_demo(out_dir: str | Path = "simstats-demo", *, sampler: str | None = None, seed: int = 20251128,
             console: Console | None = None) -> dict[str, Any]:
    """Run the demo and return the report dict; writes ``run/`` (the saved fit), ``data_check.json``,
    ``report.json``, ``report.txt`` and ``figures/`` into ``out_dir``."""
    from simstats.datasets import load_dataset
    from simstats.report import print_report
    from simstats.store import save_result
    from simstats.summary import summarise
    from simstats.workflow import fit

    con = console or Console()
    out = Path(out_dir)
    t0 = time.perf_counter()
    con.rule("simstats demo: persona posterior of the bundled clarifying-em logs")
    ds = load_dataset("clarifying_em")
    check = summarise(ds.logs)
    con.print(f"[1/4] data: {check['rows_read']} answers read, {check['rows_used']} used, "
              f"{check['n_conditions']} conditions, {check['n_prompts']} prompts, {check['n_patterns']} patterns")
    con.print("[2/4] fitting the persona mixture (models/persona_mixture.toml)")
    result = fit(None, ds.patterns, sampler=sampler, seed=seed, progress=True)
    d = result.diagnostics
    con.print(f"[3/4] diagnostics: {d.status} (max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
              f"{d.divergences} divergences)")
    out.mkdir(parents=True, exist_ok=True)
    save_result(result, out / "run")
    report = result.summary_dict()
    (out / "data_check.json").write_text(json.dumps(check, indent=2))
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    if d.status != "failed":
        rec = Console(record=True, width=160)
        print_report(report, rec)
        (out / "report.txt").write_text(rec.export_text())
        print_report(report, con)
        written = _figures(result, out / "figures")
        con.print(f"[4/4] wrote {len(written)} figures to {out / 'figures'}")
    con.print(f"done in {time.perf_counter() - t0:.0f} s; results in {out}/")
    return report


def _figures(result, folder: Path) -> list[Path]:
    try:
        from simstats.plots import write_figures
    except ImportError:  # plots arrive with the researcher's-surface work
        return []
    return write_figures(result, folder)
