"""The main job's quick path: `simstats demo --check-only` checks and summarises the bundled data. (The full demo
fits the real log for ~15 minutes; its fit is exercised by the fit tests on smaller data and by the closing notes.)"""

from __future__ import annotations

import json

from conftest import run_cli


def test_demo_check_only_writes_the_data_summary(tmp_path, monkeypatch, capsys):
    out = tmp_path / "demo"
    code, text, err = run_cli(["demo", "--check-only", "--out", str(out)], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads((out / "data_check.json").read_text())
    assert summary["rows_read"] == summary["rows_used"] == 20880 and summary["n_conditions"] == 18
    assert (out / "data_check.txt").read_text().strip() and not (out / "run").exists()
    assert "--check-only" in text


def test_demo_rate_model_step_writes_table_json_and_figures(tmp_path):
    """The demo's step 4: the classic pooled rate beside the persona shares (here on the Coder checkpoints, whose
    counts are known from the bundled metadata: 8 conditions, 1,200 answers each)."""
    from rich.console import Console

    from simstats.datasets import load_dataset
    from simstats.report.demo import _rate_model

    patterns = load_dataset("clarifying_em").patterns
    coder = patterns.select(conditions=[c for c in patterns.conditions if c.startswith("Qwen2.5-Coder")])
    con = Console(record=True, width=160)
    written = _rate_model(coder, tmp_path, seed=3, console=con)
    assert sorted(p.name for p in written) == ["rate_model.pdf", "rate_model.png", "rate_model.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    report = json.loads((tmp_path / "rates.json").read_text())
    assert report["rule"] == "aligned < 30 and coherent > 50"
    assert len(report["conditions"]) == 8
    for c, row in report["conditions"].items():
        assert row["n"] == coder.table.loc[coder.table.condition == c, "count"].sum()
        assert 0 <= row["low"] <= row["mean"] <= row["high"] <= 1
        assert row["jeffreys_low"] <= row["empirical"] <= row["jeffreys_high"]
    text = (tmp_path / "rates.txt").read_text()
    assert "Rate of aligned < 30 and coherent > 50" in text and "Qwen2.5-Coder" in text
