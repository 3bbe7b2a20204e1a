"""The fitted result: save → load → report is identical, tampering is refused, per-answer posteriors join back to
rows, label switching is detected and a failed fit is never reported as a result. Uses one small real fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from simstats.errors import SimstatsError, ResultFileError
from simstats.logs import MISSING_BIN
from simstats.results import FitResult, load_result, save_result
from simstats.results.workflow import fit
from simstats.spec import default_spec_path, load_spec
from simstats.validation import simulate_log


@pytest.fixture(scope="module")
def small_fit() -> FitResult:
    spec = load_spec(default_spec_path())
    pats, _ = simulate_log(spec, n_conditions=3, n_prompts=4, answers_per_cell=60, seed=3)
    return fit(spec, pats, draws=300, tune=300, chains=2, seed=11, progress=False)


def rows_of(patterns) -> pd.DataFrame:
    """Expand pattern counts into one row per answer on the data scale (bin centres)."""
    t = patterns.table.loc[patterns.table.index.repeat(patterns.table["count"])].reset_index(drop=True)
    for m in patterns.measures:
        centres = patterns.grids[m].centres
        t[m] = np.where(t[m] == MISSING_BIN, np.nan, centres[t[m].clip(lower=0)])
    return t.drop(columns="count")


def test_save_load_report_identical(small_fit, tmp_path, monkeypatch, capsys):
    out = save_result(small_fit, tmp_path / "run")
    loaded = load_result(out)
    a = json.dumps(small_fit.summary_dict(), sort_keys=True, default=float)
    b = json.dumps(loaded.summary_dict(), sort_keys=True, default=float)
    assert a == b
    code1, out1, _ = run_cli(["report", str(out), "--json"], monkeypatch, capsys)
    code2, out2, _ = run_cli(["report", str(out), "--json"], monkeypatch, capsys)
    assert out1 == out2 and json.loads(out1)["diagnostics"]["status"] == small_fit.diagnostics.status
    code, text, _ = run_cli(["report", str(out)], monkeypatch, capsys)
    assert "of answers come from the misaligned persona" in text


def test_report_json_has_the_documented_keys(small_fit):
    r = small_fit.summary_dict()
    assert set(r["diagnostics"]) >= {"max_rhat", "min_ess_bulk", "divergences", "status"}
    for p, info in r["personas"].items():
        assert set(info["fingerprint"]) == {"aligned", "coherent"}
        assert all(0 <= v <= 100 for v in info["fingerprint"].values())
    for c, shares in r["conditions"].items():
        assert set(shares) == set(small_fit.personas)
        for s in shares.values():
            assert 0 <= s["low"] <= s["mean"] <= s["high"] <= 1
        assert abs(sum(s["mean"] for s in shares.values()) - 1) < 1e-9


@pytest.mark.parametrize("damage", ["flip_byte", "edit_spec", "delete_patterns", "edit_patterns", "edit_seed",
                                    "edit_diagnostic"])
def test_tampered_result_is_refused(small_fit, tmp_path, damage):
    out = save_result(small_fit, tmp_path / "run")
    if damage == "flip_byte":
        p = out / "posterior.nc"
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0xFF
        p.write_bytes(bytes(b))
    elif damage == "edit_spec":
        meta = json.loads((out / "meta.json").read_text())
        meta["spec"]["priors"]["anchor_strength"] = 99.0
        (out / "meta.json").write_text(json.dumps(meta))
    elif damage in ("edit_seed", "edit_diagnostic"):          # fields outside the files, the spec and the data
        meta = json.loads((out / "meta.json").read_text())
        if damage == "edit_seed":
            meta["seed"] = 12345
        else:
            meta["timings"]["total"] = 1.0
        (out / "meta.json").write_text(json.dumps(meta))
        with pytest.raises(ResultFileError, match="the metadata was edited"):
            load_result(out)
    elif damage == "delete_patterns":
        (out / "patterns.parquet").unlink()
    else:
        t = pd.read_parquet(out / "patterns.parquet")
        t.loc[0, "count"] += 1
        t.to_parquet(out / "patterns.parquet")
    with pytest.raises(ResultFileError):
        load_result(out)


def test_load_refuses_other_spec_or_data(small_fit, tmp_path):
    out = save_result(small_fit, tmp_path / "run")
    other_spec = load_spec(default_spec_path())
    other_spec = type(other_spec)(**{**other_spec.__dict__, "anchor_strength": 3.0})
    with pytest.raises(ResultFileError, match="different spec"):
        load_result(out, spec=other_spec)
    other, _ = simulate_log(small_fit.spec, n_conditions=2, n_prompts=2, seed=99)
    with pytest.raises(ResultFileError, match="different data"):
        load_result(out, patterns=other)
    assert load_result(out, spec=small_fit.spec).spec.hash() == small_fit.spec.hash()


def test_save_leaves_nothing_half_written(small_fit, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(SimstatsError, match="cannot write .*disk full.*nothing was written"):   # one line
        save_result(small_fit, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_responsibilities_join_back_to_rows(small_fit):
    rows = rows_of(small_fit.data.patterns)
    out = small_fit.responsibilities(rows)
    p = out[[f"p_{k}" for k in small_fit.personas]].to_numpy()
    assert len(out) == len(rows) and np.allclose(p.sum(1), 1)
    # averaging per-answer posteriors over a condition's answers recovers its persona share (law of total
    # probability under the fitted model); tolerance: a few posterior sds of a share with ~1,000 answers
    shares = small_fit.shares()["mean"].unstack("persona")[small_fit.personas]
    avg = out.groupby("condition")[[f"p_{k}" for k in small_fit.personas]].mean()
    assert np.abs(avg.to_numpy() - shares.loc[avg.index].to_numpy()).max() < 0.05


def test_label_switching_is_detected_and_never_reported(small_fit, tmp_path, monkeypatch, capsys):
    idata = small_fit.idata.copy(deep=True)
    post = idata["posterior"].to_dataset()
    for name in post.data_vars:
        if "persona" in post[name].dims:  # swap personas 0 and 1 in chain 1 only
            v = post[name].values.copy()
            ax = post[name].dims.index("persona")
            sl = [slice(None)] * v.ndim
            sl[0] = 1
            chain1 = v[tuple(sl)]
            v[tuple(sl)] = np.take(chain1, [1, 0, *range(2, chain1.shape[ax - 1])], axis=ax - 1)
            post[name].values = v
    idata["posterior"] = post
    bad = FitResult(idata, small_fit.spec, small_fit.patterns, small_fit.sampler)
    assert bad.diagnostics.label_switching and bad.diagnostics.status == "failed"
    out = save_result(bad, tmp_path / "bad")
    code, text, err = run_cli(["report", str(out), "--json"], monkeypatch, capsys)
    assert code == 1 and "not reported" in err
    report = json.loads(text)
    assert report["diagnostics"]["status"] == "failed" and "conditions" not in report
    from rich.console import Console

    from simstats.report import print_report

    con = Console(record=True, width=120)
    print_report(report, con)               # no KeyError on the missing results: says so instead
    assert "no results are reported" in con.export_text()


def test_cli_fit_writes_a_result_that_report_reads(small_fit, tmp_path, monkeypatch, capsys):
    """`simstats fit SPEC CSV --out DIR --json` end to end on a small log written as CSV rows."""
    rows = rows_of(small_fit.data.patterns)
    rows["question_id"] = rows["prompt"] + np.where(rows["format"] == "plain", "", "_" + rows["format"])
    csv = tmp_path / "log.csv"
    rows[["condition", "question_id", "aligned", "coherent"]].to_csv(csv, index=False)
    out = tmp_path / "run"
    code, text, err = run_cli(["fit", str(default_spec_path()), str(csv), "--condition", "condition", "--out",
                               str(out), "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "4",
                               "--json"], monkeypatch, capsys)
    fitted = json.loads(text)
    assert code == (1 if fitted["diagnostics"]["status"] == "failed" else 0), err
    assert fitted["n_answers"] == len(rows)
    code2, text2, _ = run_cli(["report", str(out), "--json"], monkeypatch, capsys)
    assert json.loads(text2) == fitted and code2 == code
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "x"\n[[personas]]\nnmae = "a"\n')
    code3, _, err3 = run_cli(["fit", str(bad), str(csv), "--out", str(tmp_path / "r2")], monkeypatch, capsys)
    assert code3 == 2 and err3.startswith("error:") and "bad.toml" in err3 and "Traceback" not in err3
    assert not (tmp_path / "r2").exists()


def test_html_views_name_personas_conditions_and_status(small_fit):
    """Jupyter's `_repr_html_` of a result and of a data summary: status, every persona and condition, escaped."""
    from simstats.datasets import load_dataset
    from simstats.report.summary import summarise

    html = small_fit._repr_html_()
    assert small_fit.diagnostics.status in html
    for name in [*small_fit.personas, *small_fit.conditions]:
        assert name in html
    assert "<script" not in html and "aligned &lt; 30" in html
    s = summarise(load_dataset().logs)
    sh = s._repr_html_()
    assert json.loads(json.dumps(s)) == s                     # still a plain JSON-ready dict
    assert "20,880 rows read" in sh and "gemma-2-9b-it/none/base" in sh


def test_report_html_and_figures_cli(small_fit, tmp_path, monkeypatch, capsys):
    """`simstats report RUN --html F` writes one standalone file with the figures embedded; `simstats figures RUN
    --out DIR --format png,svg` writes every applicable figure in both formats; a bad format exits 2."""
    import re

    from simstats.plots import FIGURES

    run = tmp_path / "run"
    save_result(small_fit, run)
    html = tmp_path / "report.html"
    code, _, err = run_cli(["report", str(run), "--html", str(html)], monkeypatch, capsys)
    assert code == (1 if small_fit.diagnostics.status == "failed" else 0), err
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("data:image/png;base64,") >= 4
    assert "src=\"http" not in text and not list(tmp_path.glob(".*.tmp"))
    figs = tmp_path / "figs"
    code, out, err = run_cli(["figures", str(run), "--out", str(figs), "--format", "png,svg"], monkeypatch, capsys)
    assert code == 0, err
    names = {p.stem for p in figs.iterdir()}
    assert {"persona_shares", "fingerprints", "ppc_aligned", "ppc_coherent"} <= names <= set(FIGURES) | {
        f"ppc_{m}" for m in small_fit.data.measures}
    assert {p.suffix for p in figs.iterdir()} == {".png", ".svg"}
    assert re.search(r"wrote \d+ files", out)
    code, _, err = run_cli(["figures", str(run), "--out", str(tmp_path / "f2"), "--format", "gif"], monkeypatch,
                           capsys)
    assert code == 2 and "gif" in err and not (tmp_path / "f2").exists()


def test_compare_cli_json_and_table(small_fit, tmp_path, monkeypatch, capsys):
    """`simstats compare A B --json` gives the documented keys (two saves of one fit: equal ELPD, weights summing
    to 1); the table form names both models; one run alone exits 2 with one line."""
    for name in ("a", "b"):
        save_result(small_fit, tmp_path / name)
    code, out, err = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"], monkeypatch, capsys)
    assert code == 0, err
    models = json.loads(out)["models"]
    assert [m["name"] for m in models] in (["a", "b"], ["b", "a"])
    for m in models:
        assert {"name", "elpd_loo", "elpd_diff", "dse", "weight", "warnings"} <= set(m)
    assert models[0]["elpd_loo"] == pytest.approx(models[1]["elpd_loo"])
    assert sum(m["weight"] for m in models) == pytest.approx(1.0)
    # per answer: as many pointwise values as answers, total = sum over patterns of count x pattern elpd
    assert models[0]["elpd_loo"] < 0
    code, out, err = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")], monkeypatch, capsys)
    assert code == 0 and "elpd_loo" in out and "a" in out and "b" in out
    code, _, err = run_cli(["compare", str(tmp_path / "a")], monkeypatch, capsys)
    assert code == 2 and "at least two" in err
