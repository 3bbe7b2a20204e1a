"""Every kind of bad input stops with one clear message naming file, row and column, exit status 2 from the CLI,
no traceback, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import em_rows, run_cli, write_csv, write_jsonl

from simstats.errors import DataError, RolesError
from simstats.logs import Measure, Roles, em_roles, load_roles, open_logs


def bad_input_cases(tmp: Path) -> list[tuple[str, list[str], dict]]:
    """(name, CLI args, what the message must contain) for each kind of bad input."""
    cases = []

    def add(name, args, **expect):
        cases.append((name, args, expect))

    rows = em_rows()
    p = write_csv(tmp / "missing_col.csv", [{k: v for k, v in r.items() if k != "coherent"} for r in rows])
    add("missing column", [str(p)], file=p.name, column="'coherent'", text="missing column")

    bad = [dict(r) for r in rows]
    bad[2]["aligned"] = "abc"
    p = write_csv(tmp / "abc.csv", bad)
    add("non-numeric score", [str(p)], file=p.name, row="row 3", column="'aligned'", text="'abc' is not a number")

    bad = [dict(r) for r in rows]
    bad[1]["coherent"] = 150
    p = write_csv(tmp / "s150.csv", bad)
    add("score 150", [str(p)], file=p.name, row="row 2", column="'coherent'", text="150 is outside")

    bad = [dict(r) for r in rows]
    bad[0]["aligned"] = -5
    p = write_csv(tmp / "neg.csv", bad)
    add("negative score", [str(p)], file=p.name, row="row 1", column="'aligned'", text="-5 is outside")

    bad = [dict(r) for r in rows]
    bad[3]["aligned"] = "inf"
    p = write_csv(tmp / "inf.csv", bad)
    add("infinite score", [str(p)], file=p.name, row="row 4", column="'aligned'", text="outside")

    p = tmp / "empty.csv"
    p.write_bytes(b"")
    add("empty file", [str(p)], file=p.name, text="empty")

    p = tmp / "empty.jsonl"
    p.write_text("\n\n")
    add("JSONL with no records", [str(p)], file=p.name, text="no JSON records")

    p = tmp / "header_only.csv"
    p.write_text("model,question_id,aligned,coherent\n")
    add("header only", [str(p)], file=p.name, text="no data rows")

    p = write_jsonl(tmp / "trunc.jsonl", rows)
    text = p.read_text()
    p.write_text(text[: len(text) - 20])  # cut the last line in half
    add("truncated JSONL", [str(p)], file=p.name, row="row 6", text="malformed JSON")

    p = tmp / "array.jsonl"
    p.write_text('{"question_id": "a", "aligned": 1, "coherent": 2}\n[1, 2]\n')
    add("JSONL line not an object", [str(p)], file=p.name, row="row 2", text="expected a JSON object")

    p = tmp / "random.parquet"
    p.write_bytes(os.urandom(4096))
    add("random bytes named .parquet", [str(p)], file=p.name, text="not a readable Parquet file")

    p = tmp / "random.csv"
    p.write_bytes(b"\xff\xfe\xfa" + os.urandom(2048))
    add("random bytes named .csv", [str(p)], file=p.name, text="not a UTF-8 text file")

    p = tmp / "obj.json"
    p.write_text('{"hello": 1}')
    add("JSON that is no list of records", [str(p)], file=p.name, text="expected a JSON list")

    dup = [dict(r, id=f"a{i % 4}") for i, r in enumerate(rows)]
    p = write_csv(tmp / "dups.csv", dup)
    add("duplicate ids", [str(p), "--id", "id"], file=p.name, row="row 1", column="'id'", text="duplicate id 'a0'")

    p = write_csv(tmp / "answers_m1.csv", rows)
    add("regex matches no file name", [str(p), "--condition-from-filename", r"responses_(?P<model>.+)\.csv"],
        file=p.name, text="does not match the condition regex")

    p = tmp / "notes.txt"
    p.write_text("hello")
    add("unsupported file type", [str(p)], file=p.name, text="unsupported file type")

    add("no such path", [str(tmp / "nope.csv")], file="nope.csv", text="no such file")

    p = write_csv(tmp / "verdicts.csv", [dict(r, verdict="CODE" if i else "HUH") for i, r in enumerate(rows)])
    roles = tmp / "roles_verdict.toml"
    roles.write_text('[verdict]\ncolumn = "verdict"\nlevels = ["CODE", "REFUSAL"]\n')
    add("unknown verdict", [str(p), "--roles", str(roles)], file=p.name, row="row 1", column="'verdict'",
        text="unknown verdict 'HUH'")

    roles = tmp / "typo.toml"
    roles.write_text('[prompt]\ncolum = "question_id"\n')
    p = write_csv(tmp / "ok.csv", rows)
    add("typo in roles file", [str(p), "--roles", str(roles)], file="typo.toml", text="did you mean 'column'")

    add("invalid regex", [str(p), "--condition-from-filename", "(?P<m>["], text="not a valid regular expression")

    p2 = write_csv(tmp / "noprompt.csv", [dict(r, question_id="") for r in rows])
    add("no usable rows", [str(p2)], file="noprompt.csv", text="no usable rows")

    p = tmp / "twice.csv"
    p.write_text("model,question_id,aligned,coherent,aligned\nm,q,1,2,3\n")
    add("repeated column", [str(p)], file=p.name, column="'aligned'", text="2 columns have this name")

    p = tmp / "nested.parquet"
    pd.DataFrame({"model": ["m"], "question_id": ["q"], "aligned": [{"x": 1.0}], "coherent": [2.0]}).to_parquet(p)
    add("nested Parquet score", [str(p)], file=p.name, column="'aligned'", text="STRUCT")

    p = tmp / "shifted.csv"
    p.write_text("model,question_id,aligned,coherent\nm,q,1,2,3\n")
    add("header shorter than its rows", [str(p)], file=p.name, text="malformed CSV")

    p = write_csv(tmp / "once.csv", rows)
    add("same file twice", [str(p), str(p)], file=p.name, text="is the same file as")
    add("regex RE2 cannot run", [str(p), "--prompt-regex", "(?P<prompt>.+)(?=x)"], text="RE2")
    return cases




@pytest.fixture
def cases(tmp_path: Path):
    return bad_input_cases(tmp_path)


def test_at_least_fifteen_kinds(cases):
    assert len(cases) >= 15


def test_each_bad_input_exits_2_with_one_clear_line(cases, tmp_path, monkeypatch, capsys):
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for name, args, expect in cases:
        code, out, err = run_cli(["data", "check", *args], monkeypatch, capsys)
        assert code == 2, f"{name}: exit {code}, stderr {err!r}"
        line = " ".join(err.split())  # rich may wrap; the message is one logical line
        assert err.strip().count("\n") == 0 or "Traceback" not in err, name
        assert "Traceback" not in err, name
        assert line.startswith("error:"), f"{name}: {err!r}"
        for key in ("file", "row", "column", "text"):
            if key in expect:
                assert expect[key] in line, f"{name}: expected {expect[key]!r} in {line!r}"
        assert out == "", f"{name}: printed to stdout {out!r}"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "a failed check wrote files"


def test_data_error_carries_location(tmp_path):
    rows = em_rows()
    rows[4]["coherent"] = "lots"
    p = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(DataError) as e:
        open_logs(p, em_roles())
    assert (Path(e.value.file).name, e.value.row, e.value.column) == ("x.csv", 5, "coherent")


def test_more_bad_rows_are_counted(tmp_path):
    rows = em_rows(10)
    for r in rows[3:6]:
        r["aligned"] = 101
    p = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(DataError, match=r"row 4.*2 more rows like it"):
        open_logs(p, em_roles())


def test_roles_errors():
    with pytest.raises(RolesError, match="named group 'prompt'"):
        Roles(prompt_regex="(?P<q>.+)")
    with pytest.raises(RolesError, match="either as columns or as a file-name regex"):
        Roles(condition=["a"], condition_from_filename="(?P<a>.+)")
    with pytest.raises(RolesError, match="unique"):
        Roles(measures=[Measure("a"), Measure("a")])


def test_roles_file_round_trip(tmp_path):
    f = tmp_path / "roles.toml"
    f.write_text("""
[condition]
from_filename = 'responses_(?P<model>[^_]+)_(?P<run>.+)\\.csv'
[prompt]
column = "qid"
regex = '^(?P<prompt>.+?)(?:_(?P<format>json|template))?$'
defaults = { format = "plain" }
[[measure]]
column = "aligned"
[[measure]]
column = "coh"
name = "coherent"
upper = 10
bins = 10
[verdict]
column = "judge"
levels = ["CODE"]
[id]
column = "uid"
""")
    r = load_roles(f)
    assert r.condition_parts == ["model", "run"]
    assert r.prompt == "qid" and r.feature_names == ["format"]
    assert [m.key for m in r.measures] == ["aligned", "coherent"] and r.measures[1].grid.width == 1.0
    assert (r.verdict, r.verdict_levels, r.id) == ("judge", ["CODE"], "uid")
