"""Hostile strings in every HTML view (issue 18): a condition name, question id, feature value, persona name or rule
from a user's file such as ``<img src=x onerror=alert(1)>`` must reach the output as text, never as a tag.

Each view is rendered with the hostile strings in every place a user's string can go, then parsed: only the tags
the view itself writes may appear, no attribute is an event handler, and every hostile string is present escaped
(so the test cannot pass by dropping the strings)."""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from types import SimpleNamespace

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

HOSTILE = ['<img src=x onerror=alert(1)>', '"><script>alert(1)</script>', "</td></tr></table><b onmouseover=x>"]
#: Every tag simstats' own HTML writes (the report, the result and data views, pandas' table for the rate model).
OWN_TAGS = {"html", "head", "meta", "title", "body", "h2", "h3", "div", "b", "i", "code", "p", "ul", "li", "img",
            "table", "thead", "tbody", "tr", "th", "td", "style"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_inert(html: str, must_show: list[str]) -> None:
    """No tag but the view's own, no event-handler attribute, no script URL; each hostile string shown escaped."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in OWN_TAGS, f"unexpected tag <{tag}> in the output"
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler {name}= on <{tag}>"
            assert not (value or "").lower().lstrip().startswith("javascript:")
        if tag == "img":
            assert dict(attrs)["src"].startswith("data:image/png;base64,")
    assert "<script" not in html.lower()
    for s in must_show:
        assert escape(s) in html, f"{s!r} is missing from the output"


def _mixture_report(names: list[str]) -> dict:
    cond, persona, rule = names[0], names[1], names[2]
    share = {"mean": 0.2, "low": 0.1, "high": 0.3}
    return {
        "model": names[0], "sampler": names[1], "n_answers": 120, "kind": "mixture", "interval": 0.9,
        "diagnostics": {"status": "ok", "max_rhat": 1.0, "min_ess_bulk": 900.0, "min_ess_tail": 800.0,
                        "divergences": 0, "label_switching": False, "messages": [names[2]]},
        "personas": {"aligned": {"fingerprint": {names[1]: 80.0}, "no_score": {names[1]: 0.1}},
                     persona: {"fingerprint": {names[1]: 10.0}, "no_score": {names[1]: 0.0}, "behaviour_rate": 0.7}},
        "fingerprint_labels": {names[1]: f"mean {names[1]}"},
        "conditions": {cond: {"aligned": share, persona: share}},
        "threshold_rate": {cond: {"empirical": 0.1, **share}},
        "threshold_rule": rule,
    }


def _degradation_report(names: list[str]) -> dict:
    rep = _mixture_report(names)
    for k in ("personas", "conditions", "fingerprint_labels"):
        rep.pop(k)
    stat = {"mean": 50.0, "low": 40.0, "high": 60.0}
    rep.update(kind="degradation", distributions={names[0]: {names[1]: {"mean": stat, "sd": {"mean": 5.0},
                                                                        "no_score": {"mean": 0.01}}}})
    return rep


def _fake_result(report: dict, has_personas: bool = True):
    return SimpleNamespace(summary_dict=lambda prob=None: report, kind=report["kind"],
                           model_kind=SimpleNamespace(has_personas=has_personas))


@pytest.mark.parametrize("shift", range(len(HOSTILE)))
def test_result_view_escapes_conditions_personas_measures_and_messages(shift):
    """``FitResult._repr_html_`` (``results.html.result_html``): every user string in every slot."""
    from simstats.results.html import result_html

    names = HOSTILE[shift:] + HOSTILE[:shift]  # each hostile string takes each slot once
    assert_inert(result_html(_fake_result(_mixture_report(names))), names)
    assert_inert(result_html(_fake_result(_degradation_report(names), has_personas=False)), names[:2])
    failed = _mixture_report(names)
    failed["diagnostics"]["status"] = "failed"
    assert_inert(result_html(_fake_result(failed)), names)


def test_standalone_report_escapes_title_sentences_and_tables(tmp_path):
    """``report.html`` (``report.html.html_report``, what ``simstats report --html`` writes)."""
    from simstats.report.html import html_report, write_html_report

    names = HOSTILE
    html = html_report(_fake_result(_mixture_report(names)), pngs=[])
    assert_inert(html, names)
    assert html.count("<title>") == 1 and escape(names[0]) in html.split("<title>")[1].split("</title>")[0]
    assert_inert(html_report(_fake_result(_mixture_report(names)), pngs=[], title=names[1]), names)
    out = write_html_report(_fake_result(_degradation_report(names), has_personas=False), tmp_path / "r.html", pngs=[])
    assert_inert(out.read_text(), names[:2])


def test_data_summary_view_escapes_conditions_exclusions_and_rules():
    """``simstats.summarise(logs)._repr_html_`` (the Jupyter view of checked logs)."""
    from simstats.report.summary import Summary

    s = Summary({"rows_read": 3, "rows_used": 2, "n_conditions": 1, "n_prompts": 1, "n_patterns": 2,
                 "excluded": {HOSTILE[1]: 1}, "conditions": {HOSTILE[0]: 2},
                 "threshold_rate": {HOSTILE[0]: 0.5}, "threshold_rule": HOSTILE[2]})
    assert_inert(s._repr_html_(), HOSTILE)


def test_data_summary_view_of_a_real_log_with_hostile_names(tmp_path):
    """The same view on logs read from a file whose condition and question ids are hostile (no hand-made dict)."""
    from simstats.logs import em_roles, open_logs
    from simstats.report.summary import summarise

    rows = [{"model": HOSTILE[i % 2], "question_id": HOSTILE[2] + ("_json" if i % 3 == 0 else ""),
             "aligned": float(i * 7 % 100), "coherent": float(60 + i % 40)} for i in range(12)]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    summary = summarise(open_logs(path, em_roles(condition=["model"])))
    assert_inert(summary._repr_html_(), HOSTILE[:2])


def test_rate_model_view_escapes_its_summary_line_and_table():
    """``RateModelResult._repr_html_``: its one-line summary names the rule and the condition levels."""
    from simstats.inference.diagnostics import Diagnostics
    from simstats.results.rates import RateModelResult
    from simstats.theory.rules import Behaviour

    cols = ["n", "k", "rate", "mean", "low", "high", "jeffreys_low", "jeffreys_high"]
    table = pd.DataFrame([[10, 2, 0.2, 0.2, 0.1, 0.3, 0.05, 0.5]], columns=cols, index=[HOSTILE[0]])
    diag = Diagnostics(1.0, 900.0, 800.0, 0, False, "ok")
    res = RateModelResult(table=table, idata=None, diagnostics=diag, rule=Behaviour.parse("bad", "aligned < 30"),
                          levels=[HOSTILE[1]])
    assert_inert(res._repr_html_(), HOSTILE[:2])


def test_svg_figure_text_is_drawn_as_paths_not_markup(tmp_path):
    """Every figure is drawn under ``paper_style`` (``svg.fonttype = "path"``): text in an SVG export becomes glyph
    outlines (matplotlib keeps the string only in an escaped XML comment), so a hostile label -- one that tries to
    close that comment included -- cannot become an SVG/HTML element, and the file stays well-formed XML."""
    import xml.etree.ElementTree as ET

    from matplotlib.figure import Figure

    from simstats.plots.style import paper_style

    labels = [*HOSTILE, "--><script>alert(1)</script><!--"]
    with paper_style():
        fig = Figure()
        ax = fig.add_subplot()
        ax.bar(range(2), [1, 2], label=labels[0])
        ax.set_xticks(range(2), labels[1:3])
        ax.set_title(labels[3])
        ax.legend()
        fig.savefig(tmp_path / "f.svg")
    text = (tmp_path / "f.svg").read_text()
    root = ET.fromstring(text)  # well-formed; comments are not elements
    tags = {el.tag.split("}")[-1] for el in root.iter()}
    assert not tags & {"script", "img", "foreignObject", "text", "a", "iframe"}, tags
    for el in root.iter():
        for name, value in el.attrib.items():
            assert not name.split("}")[-1].startswith("on") and "alert(1)" not in value
    assert "<script" not in text and "<img" not in text
