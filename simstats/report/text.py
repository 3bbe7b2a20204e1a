"""Reports in plain words on a rich console (and as text files): a fit's tables and one sentence per condition, its
JSON report, and the summary of checked logs (``simstats data check``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text



def plain_console(**kwargs: Any) -> Console:
    """A rich console that prints text as it is: names such as ``finetune[ft_a]`` or a rule's ``[behaviours]``
    are data, not markup (styles are given as :class:`rich.text.Text` spans instead)."""
    return Console(markup=False, **kwargs)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x >= 0.001 or x == 0 else f"{100 * x:.2f}%"


def condition_sentence(condition: str, persona: str, share: dict[str, float], prob: float) -> str:
    """One plain sentence, e.g. "insecure: 6.1% of answers come from the misaligned persona (90% interval 4.8-7.6%)".

    >>> condition_sentence("insecure", "misaligned", {"mean": 0.061, "low": 0.048, "high": 0.076}, 0.9)
    'insecure: 6.1% of answers come from the misaligned persona (90% interval 4.8-7.6%).'
    """
    return (f"{condition}: {_pct(share['mean'])} of answers come from the {persona} persona "
            f"({prob:.0%} interval {_pct(share['low']).rstrip('%')}-{_pct(share['high'])}).")


def contrast_sentence(row_label: str, row, attrs: dict) -> str:
    """One sentence, e.g. "misaligned: share in insecure minus secure +4.2 points (90% interval 3.1 to 5.3),
    P(> 0) = 1.00"."""
    where = (f"{attrs['feature']}={attrs['a']} minus {attrs['feature']}={attrs['b']}" if attrs.get("feature")
             else f"{attrs['a']} minus {attrs['b']}")
    if attrs.get("at"):
        where += f" at {attrs['at']}"
    if row["mean"] is None or row["mean"] != row["mean"]:     # NaN: no answers on one side
        return f"{row_label}: {where}: no answers on one side"
    pts = lambda x: f"{100 * x:+.1f}"                                      # noqa: E731
    return (f"{row_label}: {attrs['of']} in {where} {pts(row['mean'])} points ({attrs['prob']:.0%} interval "
            f"{pts(row['low'])} to {pts(row['high'])}), P(> 0) = {row['p_gt_0']:.2f}")


def evidence_sentence(term: str, persona: str, row, reference: str, prob: float) -> str:
    """E.g. "the prompt feature system[pos] carries +6.9 nats (90% interval 5.8 to 8.1) toward the evil persona,
    against the assistant persona".

    >>> row = {"source": "prompt feature", "mean": 6.9, "low": 5.8, "high": 8.1}
    >>> evidence_sentence("system[pos]", "evil", row, "assistant", 0.9)
    'the prompt feature system[pos] carries +6.9 nats (90% interval +5.8 to +8.1) toward the evil persona, against the assistant persona.'
    """
    return (f"the {row['source']} {term} carries {row['mean']:+.1f} nats ({prob:.0%} interval {row['low']:+.1f} to "
            f"{row['high']:+.1f}) toward the {persona} persona, against the {reference} persona.")


def focus_persona(report: dict[str, Any]) -> str:
    """The persona the sentences talk about: the one most likely to show the report's first behaviour (e.g. the
    persona whose fingerprint is most often "aligned < 30 and coherent > 50"), else the first persona after the
    reference.

    >>> focus_persona({"personas": {"a": {"behaviour_rate": 0.01}, "b": {"behaviour_rate": 0.7}, "c": {}}})
    'b'
    """
    names = list(report["personas"])
    rates = {p: info.get("behaviour_rate") for p, info in report["personas"].items()}
    if any(v is not None for v in rates.values()):
        return max(names, key=lambda p: -1.0 if rates[p] is None else rates[p])
    return names[min(1, len(names) - 1)]


def distribution_sentence(condition: str, measure: str, dist: dict[str, dict[str, float]], prob: float) -> str:
    """One plain sentence about a degradation model's condition, e.g. "base: mean aligned score 82.1 (90% interval
    80.3-83.8), sd 14.2, no score 1.2%."

    >>> distribution_sentence("base", "aligned", {"mean": {"mean": 82.1, "low": 80.3, "high": 83.8},
    ...                       "sd": {"mean": 14.2}, "no_score": {"mean": 0.012}}, 0.9)
    'base: mean aligned score 82.1 (90% interval 80.3-83.8), sd 14.2, no score 1.2%.'
    """
    m = dist["mean"]
    return (f"{condition}: mean {measure} score {m['mean']:.1f} ({prob:.0%} interval {m['low']:.1f}-{m['high']:.1f}), "
            f"sd {dist['sd']['mean']:.1f}, no score {_pct(dist['no_score']['mean'])}.")


def sentences(report: dict[str, Any]) -> list[str]:
    """One plain sentence per condition; none for a failed fit (its public report has no shares). A degradation
    model (no personas) gets one sentence per condition about its first measure's distribution."""
    if report.get("kind") == "degradation":
        return [distribution_sentence(c, next(iter(by)), next(iter(by.values())), report["interval"])
                for c, by in report.get("distributions", {}).items()]
    if "conditions" not in report:
        return []
    p = focus_persona(report)
    out = [condition_sentence(c, p, shares[p], report["interval"]) for c, shares in report["conditions"].items()]
    ref = report.get("reference_persona") or next(iter(report["personas"]))
    for term, by in (report.get("evidence") or {}).items():
        out += [evidence_sentence(term, persona, row, ref, report["interval"]) for persona, row in by.items()]
    return out


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Diagnostics, fingerprints, the shares table and one sentence per condition."""
    con = console or plain_console()
    d = report["diagnostics"]
    colour = {"ok": "green", "warning": "yellow", "failed": "red"}[d["status"]]
    con.print(Text.assemble((str(report["model"]), "bold"), f" fitted with {report['sampler']} to "
              f"{report['n_answers']} answers. Diagnostics: ", (d["status"], colour),
              f" (max R-hat {d['max_rhat']:.3f}, min bulk ESS "
              f"{d['min_ess_bulk']:.0f}, min tail ESS {d.get('min_ess_tail', float('nan')):.0f}, "
              f"{d['divergences']} divergences"
              + (", labels switched" if d["label_switching"] else "") + ")"))
    s = d.get("sampling") or {}
    if s.get("until") == "gate":
        why = {"gate": "the gate passed", "checks": "more draws could not mend what the checks found",
               "budget": "the draw budget ran out before the gate passed: raise [sampler] draws, or give "
                         "--draws N --until-gate",
               "time": "the time limit ended it (draws then depend on speed)"}.get(s.get("stopped"), "")
        con.print(f"  - sampled to the gate: {s['draws']:,} of up to {s['budget']:,} draws per chain ({why})",
                  highlight=False)
    for step in d.get("ladder", []):
        then = step.get("then", "").removeprefix("sampling again")
        con.print(f"  - sampled again{then} after {step['divergences']} divergent transitions at target_accept "
                  f"{step['target_accept']}" + (f", tune {step['tune']}" if "tune" in step else "")
                  + f" (that run: {step['status']})", highlight=False)
    for msg in d.get("messages", []):
        con.print(f"  - {msg}")
    for tip in d.get("advice", []):
        con.print(f"  - what to try: {tip}", highlight=False)
    if d["status"] == "failed":         # public_report dropped the results: a failed fit is not a result
        con.print("The fit failed its diagnostics: no results are reported.", highlight=False)
        return
    if report.get("kind") == "degradation":
        _print_distributions(report, con)
        return
    labels = report.get("fingerprint_labels", {})
    measures = list(next(iter(report["personas"].values()))["fingerprint"])
    fp = Table("persona", *[labels.get(m, f"mean {m}") for m in measures],
               *[f"no {m} score" for m in next(iter(report["personas"].values()))["no_score"]],
               title="Persona fingerprints (shared by every condition)")
    for p, info in report["personas"].items():
        fp.add_row(p, *[_pct(v) if labels.get(m, "").startswith("P(") else f"{v:.1f}"
                        for m, v in info["fingerprint"].items()],
                   *[_pct(v) for v in info["no_score"].values()])
    con.print(fp)
    names = list(report["personas"])
    pct = f"{report['interval']:.0%}"
    tab = Table("condition", *names, title=f"Persona shares ({pct} intervals)")
    for c, shares in report["conditions"].items():
        tab.add_row(c, *[f"{_pct(shares[p]['mean'])} [{_pct(shares[p]['low'])}, {_pct(shares[p]['high'])}]"
                         for p in names])
    con.print(tab)
    _print_behaviours(report, con)
    effects = report.get("condition_effects") or {}
    if effects:
        free = list(next(iter(effects.values())))
        et = Table("effect", *free, title=f"Condition effects on persona log-odds vs {names[0]} ({pct} intervals)")
        for e, by in effects.items():
            et.add_row(e, *[f"{by[p]['mean']:+.2f} [{by[p]['low']:+.2f}, {by[p]['high']:+.2f}]" for p in free])
        con.print(et)
    from simstats.results.html import evidence_rows

    header, rows = evidence_rows(report)
    if rows:
        et = Table(*header, title=f"Evidence in nats toward each persona vs "
                                  f"{report.get('reference_persona', names[0])} ({pct} intervals)")
        for row in rows:
            et.add_row(*row)
        con.print(et)
    for note in report.get("notes", []):
        con.print(f"note: {note}", highlight=False)
    for s in sentences(report):
        con.print(s, highlight=False)


def _print_behaviours(report: dict[str, Any], con: Console) -> None:
    from simstats.results.html import behaviour_rows

    header, rows = behaviour_rows(report)
    if not rows:
        return
    rules = "; ".join(f"{n} = {b['rule']}" for n, b in report["behaviours"].items())
    tab = Table(*header, title=f"Thresholded behaviours ({rules}), observed and model "
                               f"({report['interval']:.0%} intervals)")
    for row in rows:
        tab.add_row(*row)
    con.print(tab)


def _print_distributions(report: dict[str, Any], con: Console) -> None:
    """A degradation model's report: no personas; per condition each score's mean, sd and no-score rate."""
    pct = f"{report['interval']:.0%}"
    con.print("This model has no personas: each condition's scores are one distribution per measure whose "
              "location and spread shift with the condition.", highlight=False)
    dists = report.get("distributions", {})
    measures = list(next(iter(dists.values()))) if dists else []
    tab = Table("condition", *[f"{m} {s}" for m in measures for s in ("mean", "sd", "no score")],
                title=f"Score distributions per condition ({pct} intervals)")
    for c, by in dists.items():
        cells = []
        for m in measures:
            mu, sd, ns = by[m]["mean"], by[m]["sd"], by[m]["no_score"]
            cells += [f"{mu['mean']:.1f} [{mu['low']:.1f}, {mu['high']:.1f}]", f"{sd['mean']:.1f}",
                      _pct(ns["mean"])]
        tab.add_row(c, *cells)
    con.print(tab)
    _print_behaviours(report, con)
    for note in report.get("notes", []):
        con.print(f"note: {note}", highlight=False)
    for s in sentences(report):
        con.print(s, highlight=False)


def public_report(result) -> dict:
    """The report of a fit (``FitResult.summary_dict``), without personas, shares and threshold rates when the fit
    failed its diagnostics: a failed fit is never reported as a result."""
    report = result.summary_dict()
    if report["diagnostics"]["status"] == "failed":
        for k in ("conditions", "threshold_rate", "behaviours", "personas", "distributions", "interaction_effects",
                  "evidence", "condition_effects"):
            report.pop(k, None)
    return report


def print_summary(s: dict, out: Console) -> None:
    """Print the summary of `simstats data check` as a sentence, a table per condition and notes."""
    excluded = sum(s["excluded"].values())
    out.print(Text.assemble((str(s["rows_read"]), "bold"), f" rows read from {s['files']} file(s): ",
                            (f"{s['rows_used']} used", "green"), f", {excluded} excluded"
                            + (f" ({', '.join(f'{k}: {v}' for k, v in s['excluded'].items())})" if excluded else "")))
    if s["files_skipped"]:
        out.print(f"skipped {len(s['files_skipped'])} entries (not logs, or hidden): "
                  f"{', '.join(s['files_skipped'][:5])}")
    behaviours = s.get("behaviours") or ({"threshold rate": {"rule": s.get("threshold_rule", ""),
                                                             "rate": s["threshold_rate"]}} if "threshold_rate" in s
                                         else {})
    # a line of its own, not the table's title: a title wider than a narrow table wraps mid-phrase
    out.print(f"{s['n_conditions']} conditions, {s['n_prompts']} prompts, {s['n_patterns']} unique patterns",
              highlight=False)
    table = Table("condition", "answers", *behaviours)
    for cond, n in s["conditions"].items():
        table.add_row(cond, str(n), *[f"{b['rate'][cond]:.1%}" for b in behaviours.values()])
    out.print(table)
    for name, b in behaviours.items():
        out.print(f"behaviour {name}: {b['rule']}", highlight=False)
    for m, info in s["measures"].items():
        if info.get("labels"):
            out.print(f"measure {m}: {info['missing']} empty (kept as an observation), levels "
                      f"{', '.join(info['labels'])}", highlight=False)
            continue
        out.print(f"measure {m}: {info['missing']} empty (kept as an observation), grid [{info['lower']:g}, "
                  f"{info['upper']:g}] in {info['n_bins']} bins")
    for f, levels in s["features"].items():
        out.print(f"prompt feature {f}: {', '.join(levels)}")


__all__ = ["condition_sentence", "distribution_sentence", "focus_persona", "print_report", "print_summary",
           "public_report", "sentences"]
