"""HTML views of fitted results for Jupyter (``FitResult._repr_html_``) and the HTML report: plain tables with inline
styles (no JavaScript, no external CSS), so that they render the same in Jupyter, VS Code and exported notebooks.
Every string that comes from a log (condition names, persona names, messages) is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_STATUS_COLOUR = {"ok": "#1a7f37", "warning": "#9a6700", "failed": "#cf222e"}
_TABLE = 'style="border-collapse:collapse;font-size:12px;margin:4px 0"'
_CELL = 'style="padding:2px 8px;border-bottom:1px solid #ddd;text-align:{align}"'


def _table(header: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["left"] + ["right"] * (len(header) - 1)
    head = "".join(f"<th {_CELL.format(align=a)}>{escape(str(h))}</th>" for h, a in zip(header, align))
    body = "".join("<tr>" + "".join(f"<td {_CELL.format(align=a)}>{escape(str(v))}</td>" for v, a in zip(r, align))
                   + "</tr>" for r in rows)
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def behaviour_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The per-condition behaviour table of a report: header (one observed and one model column per declared
    behaviour) and rows; no rows when the fit counts no behaviour."""
    behaviours = report.get("behaviours") or {}
    if not behaviours:
        return [], []
    header = ["condition", *[f"{n}: {w}" for n in behaviours for w in ("observed", "model")]]
    rows = []
    for c in next(iter(behaviours.values()))["rates"]:
        row = [c]
        for b in behaviours.values():
            r = b["rates"][c]
            row += [_pct(r["empirical"]), f"{_pct(r['mean'])} [{_pct(r['low'])}, {_pct(r['high'])}]"]
        rows.append(row)
    return header, rows


def evidence_rows(rep: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The evidence table of a report: term, source and one column per non-reference persona (nats)."""
    evidence = rep.get("evidence") or {}
    if not evidence:
        return [], []
    free = list(dict.fromkeys(p for by in evidence.values() for p in by))
    rows = [[t, next(iter(by.values()))["source"],
             *[f"{by[p]['mean']:+.2f} [{by[p]['low']:+.2f}, {by[p]['high']:+.2f}]" if p in by else "" for p in free]]
            for t, by in evidence.items()]
    return ["term", "source", *free], rows


def result_html(result, prob: float | None = None) -> str:
    """HTML of a :class:`~simstats.posterior.FitResult`: status, fingerprints, persona shares with intervals."""
    rep = result.summary_dict() if prob is None else result.summary_dict(prob)
    d = rep["diagnostics"]
    colour = _STATUS_COLOUR.get(d["status"], "#000")
    parts = [f"<div><b>simstats fit</b> of <code>{escape(rep['model'])}</code> ({escape(rep['sampler'])}) on "
             f"{rep['n_answers']:,} answers: <b style=\"color:{colour}\">{escape(d['status'])}</b> "
             f"(max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
             f"min tail ESS {d.get('min_ess_tail', float('nan')):.0f}, {d['divergences']} divergences)</div>"]
    for m in d.get("messages", []):
        parts.append(f"<div style=\"color:{colour};font-size:12px\">{escape(m)}</div>")
    for tip in d.get("advice", []):
        parts.append(f"<div style=\"font-size:12px\">What to try: {escape(tip)}</div>")
    if d["status"] == "failed":
        parts.append("<div><i>The fit failed its diagnostics: its personas and shares are not shown.</i></div>")
        return "\n".join(parts)
    if rep.get("kind") == "degradation":
        parts.append(_distributions_html(rep))
        return "\n".join(parts)
    personas = list(rep["personas"])
    measures = list(next(iter(rep["personas"].values()))["fingerprint"]) if personas else []
    labels = rep.get("fingerprint_labels", {})
    share = {m: labels.get(m, "").startswith("P(") for m in measures}
    parts.append(_table(["persona", *[labels.get(m, f"mean {m}") for m in measures],
                         *[f"no {m} score" for m in measures]],
                        [[p, *[_pct(rep['personas'][p]['fingerprint'][m]) if share[m]
                               else f"{rep['personas'][p]['fingerprint'][m]:.1f}" for m in measures],
                          *[_pct(rep['personas'][p]['no_score'][m]) for m in measures]] for p in personas]))
    pct = int(round(100 * rep["interval"]))
    rows = [[c, *[f"{_pct(per[p]['mean'])} [{_pct(per[p]['low'])}, {_pct(per[p]['high'])}]" for p in personas]]
            for c, per in rep["conditions"].items()]
    parts.append(f"<div style=\"font-size:12px\">persona shares per condition, mean [{pct}% interval]</div>")
    parts.append(_table(["condition", *personas], rows))
    parts += _behaviours_html(rep)
    header, rows = evidence_rows(rep)
    if rows:
        parts.append(f"<div style=\"font-size:12px\">evidence in nats toward each persona against "
                     f"{escape(str(rep.get('reference_persona', personas[0])))}, mean [{pct}% interval]</div>")
        parts.append(_table(header, rows))
    return "\n".join(parts)


def _behaviours_html(rep: dict[str, Any]) -> list[str]:
    header, rows = behaviour_rows(rep)
    if not rows:
        return []
    rules = "; ".join(f"{n} = {b['rule']}" for n, b in rep["behaviours"].items())
    return [f"<div style=\"font-size:12px\">thresholded behaviours ({escape(rules)}), observed and model</div>",
            _table(header, rows)]


def _distributions_html(rep: dict[str, Any]) -> str:
    """A degradation model (no personas): each condition's score mean, sd and no-score rate per measure."""
    dists = rep.get("distributions", {})
    measures = list(next(iter(dists.values()))) if dists else []
    rows = []
    for c, by in dists.items():
        cells = []
        for m in measures:
            mu = by[m]["mean"]
            cells += [f"{mu['mean']:.1f} [{mu['low']:.1f}, {mu['high']:.1f}]", f"{by[m]['sd']['mean']:.1f}",
                      _pct(by[m]["no_score"]["mean"])]
        rows.append([c, *cells])
    note = ("<div style=\"font-size:12px\">No personas: each condition's scores are one distribution per measure "
            "whose location and spread shift with the condition.</div>")
    return "\n".join([note + _table(["condition", *[f"{m} {s}" for m in measures for s in ("mean", "sd", "no score")]],
                                     rows), *_behaviours_html(rep)])


__all__ = ["behaviour_rows", "evidence_rows", "result_html"]
