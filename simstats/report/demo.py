"""The main job (`simstats demo`): bundled real logs → checks → persona-model fit → diagnostics → report and
figures, with a progress display."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from simstats.report.text import plain_console


MARKER = ".simstats-demo"


def is_demo_folder(path: Path) -> bool:
    """Whether ``path`` is a folder :func:`run_demo` wrote (its marker, or the data check of an older demo)."""
    return path.is_dir() and ((path / MARKER).is_file() or (path / "data_check.json").is_file())


def run_demo(out_dir: str | Path = "simstats-demo", *, fit_model: bool = True, sampler: str | None = None,
             seed: int = 20251128, console: Console | None = None, force: bool = False) -> dict[str, Any]:
    """Run the demo: always check and summarise the bundled data (``data_check.json``, ``data_check.txt``); with
    ``fit_model`` also fit the default persona model and write ``run/`` (the saved fit), ``report.json``,
    ``report.txt``, ``report.html`` and ``figures/``, then the classic hierarchical rate model of the threshold
    rule beside it (``rates.json``, ``rates.txt``, ``figures/rate_model.*``). Returns the data summary, or the fit
    report when fitted.

    Everything is written into a temporary folder that replaces ``out_dir`` only when complete; an earlier demo
    folder is replaced only with ``force``, anything else at ``out_dir`` never. The persona fit samples the
    default spec's chains and draws (a few minutes on 2 cores); the rate model about 1.5 minutes.
    ``fit_model=False`` stops after the data check.
    """
    from simstats.outputs import writing

    out = Path(out_dir)
    with writing(out, ours=is_demo_folder, what="simstats demo folder", force=force, folder=True) as tmp:
        (tmp / MARKER).write_text("written by simstats demo\n")
        return _run(tmp, out, fit_model=fit_model, sampler=sampler, seed=seed, con=console or plain_console())


def _run(tmp: Path, out: Path, *, fit_model: bool, sampler: str | None, seed: int, con: Console) -> dict[str, Any]:
    """The demo's steps, writing into ``tmp`` (shown to the user as ``out``)."""
    from simstats.datasets import load_dataset
    from simstats.report.html import write_html_report
    from simstats.report.summary import summarise
    from simstats.report.text import print_report, print_summary, public_report
    from simstats.results.store import save_result
    from simstats.results.workflow import fit

    t0 = time.perf_counter()
    con.rule("simstats demo: persona posterior of the bundled clarifying-em logs")
    ds = load_dataset("clarifying_em")
    check = summarise(ds.logs)
    con.print(f"[1/5] data: {check['rows_read']} answers read, {check['rows_used']} used, "
              f"{check['n_conditions']} conditions, {check['n_prompts']} prompts, {check['n_patterns']} patterns")
    (tmp / "data_check.json").write_text(json.dumps(check, indent=2))
    rec = plain_console(record=True, width=160)
    print_summary(check, rec)
    (tmp / "data_check.txt").write_text(rec.export_text())
    print_summary(check, con)
    if not fit_model:
        con.print(f"done in {time.perf_counter() - t0:.0f} s; wrote {out / 'data_check.json'} and "
                  f"{out / 'data_check.txt'} (without --check-only the demo also fits the persona model)")
        return check
    con.print("[2/5] fitting the persona mixture (models/persona_mixture.toml)")
    result = fit(None, ds.patterns, sampler=sampler, seed=seed, progress=True)
    d = result.diagnostics
    con.print(f"[3/5] diagnostics: {d.status} (max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
              f"min tail ESS {d.min_ess_tail:.0f}, {d.divergences} divergences)")
    save_result(result, tmp / "run")
    report = public_report(result)
    (tmp / "report.json").write_text(json.dumps(report, indent=2, default=float))
    if d.status != "failed":
        rec = plain_console(record=True, width=160)
        print_report(report, rec)
        (tmp / "report.txt").write_text(rec.export_text())
        print_report(report, con)
        rule = result.behaviour().describe() if result.behaviours else "the threshold rule"
        con.print(f"[4/5] the classic rate of '{rule}', pooled over the hierarchy (hierarchical binomial), beside "
                  "the persona shares")
        written = _rate_model(ds.patterns, tmp, seed=seed, console=con)
        written = _figures(result, tmp / "figures", rows=ds.logs.rows()) + written
        write_html_report(result, tmp / "report.html", pngs=written)
        con.print(f"[5/5] wrote {len(written)} figure files to {out / 'figures'} and {out / 'report.html'}")
    con.print(f"done in {time.perf_counter() - t0:.0f} s; results in {out}/")
    return report


def _figures(result, folder: Path, rows=None) -> list[Path]:
    from simstats.plots.registry import write_figures

    return write_figures(result, folder, rows=rows)


def _rate_model(patterns, out: Path, *, seed: int, console: Console) -> list[Path]:
    from simstats.plots.rates import plot_rate_model
    from simstats.plots.registry import save_figure
    from simstats.report.rates import print_rate_report, rate_report
    from simstats.results.rates import fit_rate_model

    rates = fit_rate_model(patterns, seed=seed)
    report = rate_report(rates)
    (out / "rates.json").write_text(json.dumps(report, indent=2, default=float))
    rec = plain_console(record=True, width=160)
    print_rate_report(report, rec)
    (out / "rates.txt").write_text(rec.export_text())
    print_rate_report(report, console)
    return save_figure(plot_rate_model(rates).figure, out / "figures", "rate_model")
