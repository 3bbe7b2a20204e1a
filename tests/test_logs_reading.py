"""Reading logs in every format, mapping roles, accounting for every row, and the bundled dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import em_rows, run_cli, shared_data, write_csv, write_jsonl

from simstats.datasets import load_dataset
from simstats.logs import MISSING_BIN, Grid, Measure, Roles, em_roles, open_logs

FORMATS = ["csv", "jsonl", "json", "parquet"]


def write_any(path, rows):
    if path.suffix == ".csv":
        return write_csv(path, rows)
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    if path.suffix == ".json":
        path.write_text(json.dumps(rows))
        return path
    df = pd.DataFrame(rows)
    df["aligned"] = pd.to_numeric(df["aligned"].replace("", np.nan))
    df.to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_give_the_same_patterns(tmp_path, fmt):
    rows = em_rows(40)
    ref = open_logs(write_csv(tmp_path / "ref.csv", rows), em_roles(condition=["model"])).patterns().table
    got = open_logs(write_any(tmp_path / f"log.{fmt}", rows), em_roles(condition=["model"])).patterns().table
    pd.testing.assert_frame_equal(ref.reset_index(drop=True), got.reset_index(drop=True), check_dtype=False)


def test_folder_with_condition_from_filename(tmp_path):
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "responses_a_R1.csv", em_rows(10, "x"))
    write_jsonl(tmp_path / "sub" / "responses_b_R2.jsonl", em_rows(7, "x"))
    (tmp_path / "README.md").write_text("not a log")
    logs = open_logs(tmp_path, em_roles(condition_from_filename=r"responses_(?P<model>[^_]+)_(?P<run>R\d)"))
    acc = logs.accounting()
    assert acc.rows_read == 17 and acc.rows_used == 17 and acc.balanced
    pats = logs.patterns()
    assert pats.conditions == ["a/R1", "b/R2"]
    assert pats.condition_levels == ["model"]
    assert [p.name for p in logs.skipped] == ["README.md"]


def test_prompt_features_from_suffix(tmp_path):
    logs = open_logs(write_csv(tmp_path / "x.csv", em_rows(8)), em_roles())
    t = logs.patterns().table
    assert set(t["prompt"]) == {"wish", "bored"}
    assert set(t["format"]) == {"plain", "json", "template"}
    assert t.loc[t["format"] == "json", "prompt"].unique().tolist() == ["wish"]


def test_exclusions_are_counted_with_reasons(tmp_path):
    rows = em_rows(10)
    rows[0].update(aligned="", coherent="")   # judge gave nothing: excluded
    rows[1].update(question_id="")             # no prompt: excluded
    rows[2].update(aligned="CODE")             # a verdict in the score column: kept as an observation
    rows[3].update(aligned="REFUSAL", coherent="")  # verdict alone: kept
    logs = open_logs(write_csv(tmp_path / "x.csv", rows), em_roles(condition=["model"]))
    acc = logs.accounting()
    assert acc.rows_read == 10
    assert acc.excluded == {"no score and no verdict": 1, "missing prompt": 1}
    assert acc.rows_used == 8 and acc.balanced
    pats = logs.patterns()
    assert pats.verdict_levels == ["scored", "CODE", "REFUSAL"]
    code = pats.table[pats.table["verdict"] == "CODE"]
    assert code["aligned"].tolist() == [MISSING_BIN] and code["count"].sum() == 1
    ex = logs.excluded_rows()
    assert ex["_row"].tolist() == [1, 2] and ex["reason"].tolist() == ["no score and no verdict", "missing prompt"]


def test_empty_score_is_an_observation_not_a_drop(tmp_path):
    rows = em_rows(10)
    for r in rows:
        r["aligned"] = ""
    acc = open_logs(write_csv(tmp_path / "x.csv", rows), em_roles()).accounting()
    assert acc.rows_used == 10 and not acc.excluded


def test_rows_join_back_and_bin_like_grid(tmp_path):
    rows = em_rows(30)
    rows[5]["aligned"] = 29.999
    rows[6]["aligned"] = 100.0
    logs = open_logs(write_csv(tmp_path / "x.csv", rows), em_roles())
    r = logs.rows()
    assert r["_row"].tolist() == list(range(1, 31))
    pats = logs.patterns()
    g = Grid()
    binned = pd.DataFrame({"prompt": r["prompt"], "format": r["format"],
                           "aligned": g.bin(r["aligned"].to_numpy()), "coherent": g.bin(r["coherent"].to_numpy())})
    counts = binned.value_counts().sort_index()
    got = pats.table.set_index(["prompt", "format", "aligned", "coherent"])["count"].sort_index()
    assert counts.tolist() == got.tolist()


def test_custom_grid_and_coarsen(tmp_path):
    rows = [{"q": "a", "score": s, "model": "m"} for s in (0.0, 0.49, 0.5, 1.0)]
    roles = Roles(condition=["model"], prompt="q", measures=[Measure("score", 0, 1, 2)])
    t = open_logs(write_csv(tmp_path / "x.csv", rows), roles).patterns().table
    assert t.set_index("score")["count"].to_dict() == {0: 2, 1: 2}


def test_bundled_dataset_loads_in_one_call():
    ds = load_dataset("clarifying_em")
    acc = ds.logs.accounting()
    assert acc.rows_read == 20880 == acc.rows_used and acc.balanced
    pats = ds.patterns
    assert len(pats.conditions) == 18 and len(pats.prompts) == 8
    assert pats.condition_levels == ["base_model", "finetune"]
    assert "MIT" in ds.license_text
    assert any(p["finetune"] == "insecure" and p["misaligned"] == 0.06 for p in ds.published)
    assert len(ds.raw()) == 20880


def test_cli_json_on_bundled(monkeypatch, capsys):
    code, out, _ = run_cli(["data", "check", "--json"], monkeypatch, capsys)
    assert code == 0
    s = json.loads(out)
    assert s["rows_read"] == s["rows_used"] + sum(s["excluded"].values()) == 20880
    assert s["n_conditions"] == 18 and s["n_prompts"] == 8 and s["n_patterns"] == 8853


def test_shared_clarifying_em_folder_accounts_for_every_row(monkeypatch, capsys):
    folder = shared_data("clarifying-em", "open_models")
    code, out, _ = run_cli(["data", "check", str(folder), "--condition-from-filename",
                            r"(?:responses|eval_results)_(?P<model>.+)\.csv", "--json"], monkeypatch, capsys)
    assert code == 0
    s = json.loads(out)
    raw = sum(len(pd.read_csv(f)) for f in folder.rglob("*.csv"))
    assert s["rows_read"] == raw == 20880
    assert s["rows_used"] + sum(s["excluded"].values()) == raw
    assert s["n_conditions"] == 18
    # the empirical threshold rate of the released insecure Qwen-Coder (the papers' ~6%)
    assert 0.04 < s["threshold_rate"]["Qwen-Coder-Insecure"] < 0.08


def test_nan_scores_in_parquet_are_empty_on_both_paths(tmp_path):
    """Parquet writers that store NaN (not null) must not turn an empty score into a used number: DuckDB's
    statistics omit NaN, which once made isnan() constant-fold to FALSE on the row-level path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nan = float("nan")
    t = pa.table({"model": ["a"] * 4, "question_id": ["q1", "q1", "q2_json", "q2"],
                  "aligned": pa.array([10.0, nan, nan, 99.5], from_pandas=False),
                  "coherent": pa.array([80.0, 70.0, nan, 60.0], from_pandas=False)})
    path = tmp_path / "nan.parquet"
    pq.write_table(t, path)
    logs = open_logs(path, em_roles(condition=["model"]))
    acc = logs.accounting()
    assert acc.excluded == {"no score and no verdict": 1} and acc.rows_used == 3
    rows = logs.rows()
    assert len(rows) == 3 and rows["aligned"].isna().sum() == 1
    assert logs.excluded_rows()["_row"].tolist() == [3]
    pats = logs.patterns().table
    assert pats["count"].sum() == 3 and (pats["aligned"] == MISSING_BIN).sum() == 1
