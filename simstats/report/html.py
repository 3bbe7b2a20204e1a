"""HTML for Jupyter and files: the view of checked logs (``_repr_html_`` of a data summary) and the standalone HTML
report of a fit (its tables from :mod:`simstats.results.html`, one sentence per condition, every figure embedded).

Plain HTML tables with inline styles (no JavaScript, no external CSS); every string from a log is escaped.

>>> from simstats.datasets import load_dataset
>>> from simstats.report.summary import summarise
>>> html = summarise(load_dataset().logs)._repr_html_()
>>> "rows read" in html and "Qwen2.5-Coder-32B-Instruct/insecure/released_a" in html
True
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from simstats.plots.registry import write_figures
from simstats.report.text import public_report, sentences
from simstats.results.html import _pct, _table, result_html

def summary_html(s: dict[str, Any]) -> str:
    """HTML of a :func:`simstats.summary.summarise` dict: accounting, exclusions, conditions, threshold rates."""
    parts = [f"<div><b>simstats logs</b>: {s['rows_read']:,} rows read, {s['rows_used']:,} used, "
             f"{s['n_conditions']} conditions, {s['n_prompts']} prompts, {s['n_patterns']:,} unique patterns</div>"]
    if s["excluded"]:
        parts.append(_table(["excluded because", "rows"], [[k, f"{v:,}"] for k, v in s["excluded"].items()]))
    rate = s.get("threshold_rate", {})
    rows = [[c, f"{n:,}", *([_pct(rate[c]) if c in rate else ""] if rate else [])] for c, n in s["conditions"].items()]
    parts.append(_table(["condition", "answers", *([s.get("threshold_rule", "threshold rule")] if rate else [])], rows))
    return "\n".join(parts)


def html_report(result, *, rows=None, title: str | None = None, seed: int = 0,
                pngs: list[Path] | None = None) -> str:
    """A standalone HTML report of a fit: the :func:`simstats.html.result_html` tables, one sentence per condition
    and every figure that applies, embedded as PNG (no external files). A failed fit gets its diagnostics only.
    ``pngs``: figures already rendered (e.g. by :func:`simstats.plots.write_figures`) to embed instead of drawing.

    >>> Path("report.html").write_text(html_report(result))   # doctest: +SKIP
    """
    import base64
    import tempfile

    rep = public_report(result)
    body = [result_html(result)]
    if rep["diagnostics"]["status"] != "failed":
        body.append("<ul style=\"font-size:13px\">" + "".join(f"<li>{escape(s)}</li>" for s in sentences(rep))
                    + "</ul>")
        with tempfile.TemporaryDirectory() as tmp:
            if not result.model_kind.has_personas:   # the persona figures draw shares and fingerprints
                body.append(f"<p style=\"font-size:13px\">A {escape(result.kind)} model has no personas: no "
                            "persona figures.</p>")
            files = pngs if pngs is not None else write_figures(result, tmp, rows=rows, formats=("png",), seed=seed)
            for png in [Path(f) for f in files if str(f).endswith(".png")]:
                data = base64.b64encode(png.read_bytes()).decode("ascii")
                body.append(f"<h3 style=\"font-size:14px\">{escape(png.stem.replace('_', ' '))}</h3>"
                            f"<img alt=\"{escape(png.stem)}\" style=\"max-width:100%\" "
                            f"src=\"data:image/png;base64,{data}\">")
    name = escape(title or f"simstats report: {rep['model']}")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"generator\" content=\"simstats\">"
            "<title>" + name + "</title></head>"
            "<body style=\"font-family:sans-serif;max-width:1000px;margin:auto\"><h2>" + name + "</h2>"
            + "\n".join(body) + "</body></html>")


def is_html_report(path: Path) -> bool:
    """Whether ``path`` is a report written by :func:`write_html_report` (it carries simstats' generator tag)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(400)
    except OSError:
        return False
    return path.is_file() and head.startswith("<!DOCTYPE html>") and 'content="simstats"' in head


def write_html_report(result, path: str | Path, *, rows=None, seed: int = 0, pngs: list[Path] | None = None,
                      force: bool = True) -> Path:
    """Write :func:`html_report` to ``path`` atomically (a temporary file renamed into place). An earlier simstats
    report at ``path`` is replaced only with ``force``; any other file there never is."""
    from simstats.outputs import write_text

    text = html_report(result, rows=rows, seed=seed, pngs=pngs)
    return write_text(path, text, ours=is_html_report, what="simstats HTML report", force=force)


__all__ = ["html_report", "is_html_report", "result_html", "summary_html", "write_html_report"]
