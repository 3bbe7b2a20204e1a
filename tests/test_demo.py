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
