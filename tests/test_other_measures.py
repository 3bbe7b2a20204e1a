"""Every report and figure on a log whose measures are not the EM ones (issue 15): the persona-vector spec
(measures ``evil`` and ``coherence``, one checkpoint, the system prompt as a prompt feature, a declared behaviour
``evil > 50 and coherence > 50``) on a log simulated from it, through the JSON, console and HTML reports, every
figure, the contrast and evidence tables and the CLI. What is checked is that each output names the log's own
measures and behaviour and never the EM ones, and runs without error: a short real fit (2 x 150 draws), whose
numbers are not asserted."""

from __future__ import annotations

import io
import json

import pytest

from simstats import fit
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation import simulate_log

SPEC = DEFAULT_SPEC_PATH.parent / "persona_vectors_evil.toml"


@pytest.fixture(scope="module")
def trait_fit():
    spec = load_spec(SPEC)
    pats, _ = simulate_log(spec, n_conditions=1, n_prompts=4, features={"system": ["neg", "pos"]},
                           answers_per_cell=40, seed=4)
    return fit(spec, pats, draws=150, tune=150, chains=2, seed=3, progress=False)


def test_reports_name_the_logs_own_measures(trait_fit, tmp_path):
    from rich.console import Console

    from simstats.report.html import write_html_report
    from simstats.report.text import print_report, public_report

    r = trait_fit
    assert r.data.notes and any("condition level left out" in n for n in r.data.notes)
    rep = public_report(r)
    text = json.dumps(rep, default=float)
    assert "evil" in text and "coherence" in text and "aligned" not in text
    buf = io.StringIO()
    print_report(rep, Console(file=buf, width=120, markup=False))
    out = buf.getvalue()
    assert "evil" in out and "aligned" not in out
    if rep["diagnostics"]["status"] != "failed":
        assert "system[pos]" in out                               # the evidence table
    write_html_report(r, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "coherence" in page and "aligned" not in page
    assert "aligned" not in r._repr_html_()


def test_every_figure_and_the_contrast_on_other_measures(trait_fit, tmp_path):
    from simstats.plots.registry import write_figures

    r = trait_fit
    paths = write_figures(r, tmp_path, formats=["png"])
    names = {p.stem for p in paths}
    assert {"persona_shares", "fingerprints", "ppc_evil", "ppc_coherence"} <= names, names
    t = r.contrast("pos", "neg", feature="system", behaviour="evil")
    assert list(t.index.get_level_values("behaviour")) == ["evil"]
    ev = r.evidence()
    assert set(ev.index.get_level_values("persona")) == {"evil", "incoherent"}
