"""Bad input the logs layer must refuse with one clear line (or read correctly): repeated and empty column names,
nested and non-scalar types, encodings and compression, odd files and folders, and user regexes."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import em_rows, write_csv, write_jsonl

from simstats.errors import DataError, RolesError, SimstatsError
from simstats.logs import Measure, Roles, em_roles, load_roles, open_logs
from simstats.logs.readers import discover, load_relation

ROLES = em_roles(condition=["model"])
HEADER = "model,question_id,aligned,coherent"


def csv_text(rows: list[dict] | None = None, header: str = HEADER, extra: str = "") -> str:
    """EM rows as CSV text, with ``extra`` appended to every data line (for extra columns)."""
    rows = rows or em_rows()
    body = "".join(f"{r['model']},{r['question_id']},{r['aligned']},{r['coherent']}{extra}\n" for r in rows)
    return header + "\n" + body


def reference(tmp: Path) -> pd.DataFrame:
    """Pattern table of the plain CSV of em_rows(), to compare other encodings of the same rows against."""
    path = tmp / "reference" / "ref.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(csv_text())
    return open_logs(path, ROLES).patterns().table


def one_line_error(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


# --- repeated, empty and reserved column names ----------------------------------------------------------------

@pytest.mark.parametrize("second", ["aligned", " aligned", "Aligned", "\ufeffaligned", "ALIGNED "])
def test_csv_repeated_column_read_by_a_role_is_refused(tmp_path, second):
    p = tmp_path / "dup.csv"
    p.write_text(csv_text(header=HEADER + "," + second, extra=",99"))
    with pytest.raises(DataError) as e:
        open_logs(p, ROLES)
    assert (Path(e.value.file).name, e.value.column) == ("dup.csv", "aligned")
    assert "2 columns have this name" in one_line_error(e) and "#3" in str(e.value) and "#5" in str(e.value)


def test_repeated_column_that_no_role_reads_is_ignored(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(csv_text(header=HEADER + ",note,Note ", extra=",a,b"))
    acc = open_logs(p, ROLES).accounting()
    assert acc.rows_read == 6 and acc.balanced


def test_empty_and_blank_header_fields_are_ignored(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(csv_text(header=HEADER + ",,  ,", extra=",x,y,z"))
    pd.testing.assert_frame_equal(open_logs(p, ROLES).patterns().table, reference(tmp_path))


def test_header_names_are_trimmed(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(csv_text(header=" model , question_id,aligned ,\tcoherent"))
    pd.testing.assert_frame_equal(open_logs(p, ROLES).patterns().table, reference(tmp_path))


def test_header_shorter_than_its_rows_is_refused(tmp_path):
    """pandas would silently turn the first column into an index and shift every name one column left."""
    p = tmp_path / "x.csv"
    p.write_text(csv_text(extra=",surplus"))
    with pytest.raises(DataError, match="malformed CSV.*Expected 4 fields"):
        open_logs(p, ROLES)


def test_csv_row_cut_short(tmp_path):
    """A file cut off mid-write ends in a short row, which pandas would pad with empty cells without a word."""
    p = tmp_path / "x.csv"
    p.write_text(csv_text(header=HEADER + ",note", extra=",n") + "m1,wish,30")  # cut inside row 7
    with pytest.raises(DataError, match="ends after 3 of the header's 5 fields") as e:
        open_logs(p, ROLES)
    assert (e.value.row, e.value.column) == (7, "coherent")
    p.write_text(csv_text(header=HEADER + ",note", extra=",n").replace(",n\n", "\n", 1))  # no note in row 1
    assert open_logs(p, ROLES).accounting().rows_used == 6  # the short rows lack only a column no role reads


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_key_repeated_in_a_record(tmp_path, fmt):
    rec = '{"model": "m", "question_id": "q", "aligned": 10, "coherent": 50, "note": 1, "note": 2}'
    bad = rec.replace('"coherent": 50', '"coherent": 50, "aligned": 90')
    lines = [rec, bad, rec]
    p = tmp_path / f"x.{fmt}"
    p.write_text("\n".join(lines) if fmt == "jsonl" else "[" + ",".join(lines) + "]")
    with pytest.raises(DataError) as e:
        open_logs(p, ROLES)
    assert (e.value.row, e.value.column) == (2, "aligned") and "more than once" in one_line_error(e)
    p.write_text("\n".join([rec] * 3) if fmt == "jsonl" else "[" + ",".join([rec] * 3) + "]")
    assert open_logs(p, ROLES).accounting().rows_used == 3  # the repeated 'note' is read by no role


def test_json_keys_differing_in_case_are_ambiguous(tmp_path):
    p = write_jsonl(tmp_path / "x.jsonl", [dict(r, Aligned=1.0) for r in em_rows()])
    with pytest.raises(DataError, match="2 columns have this name") as e:
        open_logs(p, ROLES)
    assert e.value.column == "aligned"


def test_parquet_repeated_columns(tmp_path):
    arrays = [pa.array(["m"] * 3), pa.array(["q"] * 3), pa.array([1.0, 2, 3]), pa.array([4.0, 5, 6])]
    for extra, used in (("aligned", True), ("Aligned", True), ("note", False)):
        names = ["model", "question_id", "aligned", "coherent", extra, "note"] if not used else \
            ["model", "question_id", "aligned", "coherent", extra]
        cols = arrays + [pa.array([7.0, 8, 9])] * (len(names) - 4)
        p = tmp_path / f"dup_{extra}.parquet"
        pq.write_table(pa.Table.from_arrays(cols, names=names), p)
        if used:
            with pytest.raises(DataError, match="2 columns have this name") as e:
                open_logs(p, ROLES)
            assert e.value.column == "aligned"
        else:
            assert open_logs(p, ROLES).accounting().rows_used == 3


def test_reserved_row_column(tmp_path):
    """A user column '_row' would take the place of the row numbers; unused it is ignored, used it is refused."""
    p = tmp_path / "x.csv"
    p.write_text(csv_text(header=HEADER + ",_row", extra=",zz"))
    logs = open_logs(p, ROLES)
    assert logs.rows()["_row"].tolist() == list(range(1, 7))
    with pytest.raises(DataError, match="reserved for row numbers"):
        open_logs(p, ROLES.replace(id="_row"))
    pq.write_table(pa.table({"model": ["m"] * 2, "question_id": ["q"] * 2, "aligned": [1.0, 2.0],
                             "coherent": [3.0, 4.0], "_ROW": [9, 9]}), q := tmp_path / "x.parquet")
    assert open_logs(q, ROLES).rows()["_row"].tolist() == [1, 2]


def test_parquet_with_its_own_file_row_number_column(tmp_path):
    """DuckDB cannot add its row-number column next to one of that name; the rows are numbered another way."""
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"model": ["m"] * 3, "question_id": ["q", "", "q"], "aligned": [1.0, 2.0, 3.0],
                             "coherent": [3.0, 4.0, 5.0], "file_row_number": [7, 7, 7]}), p)
    logs = open_logs(p, ROLES.replace(id="file_row_number", unique_ids=False))
    assert logs.excluded_rows()["_row"].tolist() == [2] and logs.accounting().rows_used == 2


@pytest.mark.parametrize("offset", [64, 184, 364])
def test_parquet_with_damaged_data_pages(tmp_path, offset):
    """The footer still reads, so DuckDB fails only when it decodes the pages: that must name the file too."""
    rows = pd.DataFrame(em_rows(200)).assign(aligned=lambda d: pd.to_numeric(d["aligned"]))
    p = tmp_path / "x.parquet"
    rows.to_parquet(p)
    data = bytearray(p.read_bytes())
    data[offset:offset + 8] = b"\xff" * 8
    p.write_bytes(bytes(data))
    with pytest.raises(DataError, match="damaged and cannot be read|not a readable Parquet file") as e:
        open_logs(p, ROLES)
    assert Path(e.value.file).name == "x.parquet" and one_line_error(e)


# --- nested and non-scalar types ------------------------------------------------------------------------------

NESTED = {
    "struct": (pa.array([{"x": 1}] * 3), "STRUCT"),
    "list": (pa.array([[1.0]] * 3), "DOUBLE[]"),
    "map": (pa.array([[("k", 1.0)]] * 3, type=pa.map_(pa.string(), pa.float64())), "MAP"),
    "blob": (pa.array([b"1"] * 3), "BLOB"),
    "fixed list": (pa.array([[1.0, 2.0]] * 3, type=pa.list_(pa.float64(), 2)), "DOUBLE["),
}


def nested_parquet(tmp: Path, column: str, values: pa.Array) -> Path:
    cols = {"model": pa.array(["m"] * 3), "question_id": pa.array(["q"] * 3), "aligned": pa.array([1.0, 2, 3]),
            "coherent": pa.array([4.0, 5, 6])}
    cols[column] = values
    path = tmp / f"{column}.parquet"
    pq.write_table(pa.table(cols), path)
    return path


@pytest.mark.parametrize("kind", list(NESTED))
@pytest.mark.parametrize("column", ["aligned", "question_id", "model"])
def test_parquet_nested_role_column_is_refused(tmp_path, kind, column):
    values, shown = NESTED[kind]
    with pytest.raises(DataError) as e:
        open_logs(nested_parquet(tmp_path, column, values), ROLES)
    msg = one_line_error(e)
    assert e.value.column == column and shown in msg and f"{column}.parquet" in msg


@pytest.mark.parametrize("kind", list(NESTED))
def test_parquet_nested_column_no_role_reads_is_ignored(tmp_path, kind):
    acc = open_logs(nested_parquet(tmp_path, "extra", NESTED[kind][0]), ROLES).accounting()
    assert acc.rows_read == acc.rows_used == 3


def test_non_numeric_scalar_score_types_are_refused_but_work_as_labels(tmp_path):
    import datetime

    dates = pa.array([datetime.date(2024, 1, d) for d in (1, 2, 3)])
    with pytest.raises(DataError, match="holds DATE values, not scores"):
        open_logs(nested_parquet(tmp_path, "aligned", dates), ROLES)
    assert open_logs(nested_parquet(tmp_path, "model", dates), ROLES).patterns().conditions == [
        "2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.mark.parametrize("value", [{"score": 10}, [10, 20]])
@pytest.mark.parametrize("column", ["aligned", "question_id"])
def test_jsonl_nested_value_in_a_role_column(tmp_path, value, column):
    rows = em_rows()
    rows[3][column] = value
    with pytest.raises(DataError) as e:
        open_logs(write_jsonl(tmp_path / "x.jsonl", rows), ROLES)
    assert (e.value.row, e.value.column) == (4, column) and "flatten" in one_line_error(e)
    acc = open_logs(write_jsonl(tmp_path / "y.jsonl", [dict(r, meta=value) for r in em_rows()]), ROLES).accounting()
    assert acc.rows_read == 6 and acc.balanced


def test_whole_numbers_with_gaps_keep_their_spelling(tmp_path):
    """pandas turns whole numbers with a missing cell into floats; '1.0' would split condition '1' across files."""
    rows = [dict(r, seed=i % 2) for i, r in enumerate(em_rows())]
    rows[0].pop("seed")
    logs = open_logs(write_jsonl(tmp_path / "x.jsonl", rows), ROLES.replace(condition=["seed"]))
    assert logs.patterns().conditions == ["0", "1"]


def test_unpaired_surrogate_escape(tmp_path):
    rec = {"model": "m", "question_id": "q", "aligned": 1, "coherent": 2}
    lines = [json.dumps(rec)] * 3
    lines[1] = lines[1].replace('"q"', '"q\\ud800"')
    p = tmp_path / "x.jsonl"
    p.write_text("\n".join(lines))
    with pytest.raises(DataError, match="not valid Unicode") as e:
        open_logs(p, ROLES)
    assert (e.value.row, e.value.column) == (2, "question_id")
    p.write_text("\n".join(json.dumps(dict(rec, note="\ud800")) for _ in range(3)))
    assert open_logs(p, ROLES).accounting().rows_used == 3


def test_inspect_scores_that_would_fill_one_column():
    """Scorer 'judge' with a dict value {'aligned': ...} and a scorer named 'judge.aligned' both give column
    'judge.aligned'; the second would silently overwrite the first."""
    from types import SimpleNamespace as NS

    from simstats.logs.inspect_reader import _sample_row

    log = NS(eval=NS(model="m", task="t"), status="success")
    sample = NS(id=1, epoch=1, input="q", output=None, metadata={}, error=None,
                scores={"judge": NS(value={"aligned": 1.0}), "judge.aligned": NS(value=2.0)})
    with pytest.raises(DataError, match="fill the column 'judge.aligned'"):
        _sample_row(sample, log, "x.eval")
    sample.scores.pop("judge.aligned")
    assert _sample_row(sample, log, "x.eval")["judge.aligned"] == 1.0


# --- encodings, line endings and compression --------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_text_with_a_byte_order_mark(tmp_path, encoding, fmt):
    rows = em_rows()
    text = {"csv": csv_text(rows), "jsonl": "".join(json.dumps(r) + "\n" for r in rows), "json": json.dumps(rows)}
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    p = tmp_path / f"x.{fmt}"
    p.write_bytes(bom + text[fmt].encode(encoding))
    pd.testing.assert_frame_equal(open_logs(p, ROLES).patterns().table, reference(tmp_path), check_dtype=False)


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(csv_text().encode("utf-16-le"))
    with pytest.raises(DataError, match="NUL character on line 1.*UTF-16 without a byte-order mark"):
        open_logs(p, ROLES)


def test_invalid_utf8_names_its_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(csv_text().encode() + b"m1,wish,\xff,3\n")
    with pytest.raises(DataError, match="not a UTF-8 text file .byte 0xff on line 8"):
        open_logs(p, ROLES)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_endings(tmp_path, newline):
    p = tmp_path / "x.csv"
    p.write_bytes(csv_text().replace("\n", newline).encode())
    pd.testing.assert_frame_equal(open_logs(p, ROLES).patterns().table, reference(tmp_path))
    if newline == "\r\n":
        q = tmp_path / "x.jsonl"
        q.write_bytes("".join(json.dumps(r) + "\r\n" for r in em_rows()).encode())
        pd.testing.assert_frame_equal(open_logs(q, ROLES).patterns().table, reference(tmp_path), check_dtype=False)


def test_jsonl_splits_lines_at_newlines_only(tmp_path):
    """str.splitlines() would also split inside strings holding U+2028 or \\x1c (valid in JSON, unescaped)."""
    rows = [dict(r, note="a\u2028b\x1cc\x85d") for r in em_rows()]
    p = tmp_path / "x.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert open_logs(p, ROLES).accounting().rows_read == 6


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_gzip_compressed_text(tmp_path, fmt):
    rows = em_rows()
    text = {"csv": csv_text(rows), "jsonl": "".join(json.dumps(r) + "\n" for r in rows), "json": json.dumps(rows)}
    p = tmp_path / f"x.{fmt}.gz"
    p.write_bytes(gzip.compress(text[fmt].encode()))
    assert discover([tmp_path]).files == [p]
    pd.testing.assert_frame_equal(open_logs(p, ROLES).patterns().table, reference(tmp_path), check_dtype=False)
    p.write_bytes(gzip.compress(text[fmt].encode())[:-30])
    with pytest.raises(DataError, match="not a valid gzip file"):
        open_logs(p, ROLES)


@pytest.mark.parametrize("name", ["x.parquet.gz", "x.zip", "x.csv.bz2"])
def test_other_compressed_files_are_refused(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match="unsupported file type.*decompress it first"):
        open_logs(p, ROLES)


def test_json_nested_too_deeply(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="nested too deeply"):
        open_logs(p, ROLES)


def test_json_list_in_a_jsonl_file_and_jsonl_in_a_json_file(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps(em_rows(), indent=1))
    with pytest.raises(DataError, match="name the file .json"):
        open_logs(p, ROLES)
    q = write_jsonl(tmp_path / "y.json", em_rows())
    with pytest.raises(DataError, match="name the file .jsonl"):
        open_logs(q, ROLES)


def test_json_object_with_two_lists_of_records(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"records": em_rows(), "data": em_rows(2)}))
    with pytest.raises(DataError, match="both 'records' and 'data'"):
        open_logs(p, ROLES)
    p.write_text(json.dumps({"meta": {"run": 1}, "records": em_rows()}))
    assert open_logs(p, ROLES).accounting().rows_read == 6


def test_json_records_without_keys_are_rows_without_columns(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[{}, {}]")
    with pytest.raises(DataError, match="missing column.*the file has no named columns"):
        open_logs(p, ROLES)


def test_very_wide_file(tmp_path):
    extra = [f"c{i}" for i in range(2000)]
    p = tmp_path / "wide.csv"
    p.write_text(csv_text(header=HEADER + "," + ",".join(extra), extra="," + ",".join("1" * 2000)))
    start = time.perf_counter()
    assert open_logs(p, ROLES).accounting().rows_used == 6
    assert time.perf_counter() - start < 30
    with pytest.raises(DataError, match=r"and \d+ more"):
        open_logs(p, ROLES.replace(prompt="zzz_not_there_at_all"))


def test_semicolon_separated_file_gets_a_hint(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(csv_text().replace(",", ";"))
    with pytest.raises(DataError, match="separated by ';'"):
        open_logs(p, ROLES)


def test_long_bad_cell_is_cut_in_the_message(tmp_path):
    rows = em_rows()
    rows[1]["aligned"] = "x" * 5000
    with pytest.raises(DataError) as e:
        open_logs(write_csv(tmp_path / "x.csv", rows), ROLES)
    assert len(one_line_error(e)) < 300 and "..." in str(e.value)


# --- files and folders ------------------------------------------------------------------------------------------

def test_empty_folder_and_folder_without_logs(tmp_path):
    with pytest.raises(DataError, match="no log files"):
        open_logs(tmp_path, ROLES)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="skipped 1 other entries, e.g. 'notes.txt'"):
        open_logs(tmp_path, ROLES)


def test_symlink_loop_in_a_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "a.csv", em_rows())
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a link to itself
    with pytest.raises(DataError, match="broken symbolic link"):
        discover([tmp_path / "self"])
    (tmp_path / "self").unlink()
    assert discover([tmp_path]).files == [tmp_path / "sub" / "a.csv"]
    assert open_logs(tmp_path, ROLES).accounting().rows_read == 6


def test_linked_folder_is_followed_once(tmp_path):
    (tmp_path / "real").mkdir()
    write_csv(tmp_path / "real" / "a.csv", em_rows())
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run1").symlink_to(tmp_path / "real", target_is_directory=True)
    assert [f.relative_to(tmp_path) for f in discover([tmp_path / "logs"]).files] == [Path("logs/run1/a.csv")]


def test_same_file_twice_is_refused(tmp_path):
    p = write_csv(tmp_path / "a.csv", em_rows())
    for paths in ([p, p], [tmp_path, p]):
        with pytest.raises(DataError, match="is the same file as"):
            open_logs(paths, ROLES)
    (tmp_path / "latest.csv").symlink_to(p)
    with pytest.raises(DataError, match="is the same file as .*a.csv"):
        open_logs(tmp_path, ROLES)
    (tmp_path / "latest.csv").unlink()
    os.link(p, tmp_path / "hard.csv")
    with pytest.raises(DataError, match="is the same file as"):
        open_logs(tmp_path, ROLES)


def test_broken_link_named_like_a_log(tmp_path):
    write_csv(tmp_path / "a.csv", em_rows())
    (tmp_path / "b.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DataError, match="broken symbolic link") as e:
        open_logs(tmp_path, ROLES)
    assert Path(e.value.file).name == "b.csv"
    (tmp_path / "b.csv").unlink()
    (tmp_path / "notes").symlink_to(tmp_path / "gone")  # not a log name: skipped, as any non-log entry
    assert open_logs(tmp_path, ROLES).accounting().rows_read == 6


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipe_named_like_a_log(tmp_path):
    """Reading a pipe would block for ever."""
    os.mkfifo(tmp_path / "x.csv")
    for paths in ([tmp_path / "x.csv"], [tmp_path]):
        with pytest.raises(DataError, match="not a regular file"):
            open_logs(paths, ROLES)


def test_folder_named_like_a_log(tmp_path):
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(DataError, match="no log files"):
        open_logs(tmp_path / "x.csv", ROLES)
    write_csv(tmp_path / "x.csv" / "a.csv", em_rows())
    assert open_logs(tmp_path, ROLES).files == [tmp_path / "x.csv" / "a.csv"]


def test_hidden_entries_are_skipped(tmp_path):
    """Jupyter's .ipynb_checkpoints copies would count every row twice; macOS ._x.csv files are binary."""
    write_csv(tmp_path / "a.csv", em_rows())
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_csv(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.csv", em_rows())
    (tmp_path / "._a.csv").write_bytes(b"\x00\x05\x16\x07")
    logs = open_logs(tmp_path, ROLES)
    assert logs.accounting().rows_read == 6
    assert sorted(p.name for p in logs.skipped) == ["._a.csv", ".ipynb_checkpoints"]
    write_csv(tmp_path / ".hidden.csv", em_rows(3))
    assert open_logs(tmp_path / ".hidden.csv", ROLES).accounting().rows_read == 3  # named explicitly: read


def test_file_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"bad\xff.csv")
    try:
        write_csv(tmp_path / name, em_rows())
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    with pytest.raises(DataError, match="not valid UTF-8") as e:
        open_logs(tmp_path, ROLES)
    str(e.value).encode("utf-8")  # the message itself prints


@pytest.mark.parametrize("name", ["run[1].parquet", "st*r.parquet", "q?.parquet"])
def test_parquet_name_with_glob_characters(tmp_path, name):
    """DuckDB would read 'run[1].parquet' as a pattern, matching 'run1.parquet'."""
    decoy = pd.DataFrame({"model": ["decoy"], "question_id": ["q"], "aligned": [1.0], "coherent": [2.0]})
    for other in ("run1.parquet", "star.parquet", "qx.parquet"):
        decoy.to_parquet(tmp_path / other)
    pd.DataFrame(em_rows()).assign(aligned=lambda d: pd.to_numeric(d["aligned"])).to_parquet(tmp_path / name)
    assert open_logs(tmp_path / name, ROLES).patterns().conditions == ["m1"]


def test_file_that_vanishes_before_it_is_read(tmp_path):
    p = write_csv(tmp_path / "a.csv", em_rows())
    found = discover([p])
    p.unlink()
    with pytest.raises(DataError, match="cannot read the file"):
        load_relation(duckdb.connect(), found.files[0], "v")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_unreadable_file(tmp_path, monkeypatch, fmt):
    p = tmp_path / f"a.{fmt}"
    p.write_text("x")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DataError, match=r"cannot read the file \(Permission denied\)"):
        open_logs(p, ROLES)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_and_folder_by_mode(tmp_path):
    p = write_csv(tmp_path / "a.csv", em_rows())
    p.chmod(0)
    with pytest.raises(DataError, match="cannot read"):
        open_logs(p, ROLES)
    p.chmod(0o644)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0)
    try:
        with pytest.raises(DataError, match="cannot read the folder"):
            open_logs(tmp_path, ROLES)
    finally:
        (tmp_path / "locked").chmod(0o755)


# --- regexes ----------------------------------------------------------------------------------------------------

def test_condition_regex_cannot_backtrack_catastrophically(tmp_path):
    """In Python's re, (a|aa)+b on a long run of a's takes exponential time; RE2 is linear."""
    p = write_csv(tmp_path / ("a" * 200 + ".csv"), [{k: v for k, v in r.items() if k != "model"} for r in em_rows()])
    start = time.perf_counter()
    with pytest.raises(DataError, match="does not match the condition regex"):
        open_logs(p, em_roles(condition_from_filename=r"(?P<model>(a|aa)+)b"))
    assert time.perf_counter() - start < 10


def test_condition_regex_groups_as_before(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "model"} for r in em_rows()]
    write_csv(tmp_path / "responses_a_R1.csv", rows)
    write_csv(tmp_path / "responses_b.csv", rows)
    logs = open_logs(tmp_path, em_roles(condition_from_filename=r"responses_(?P<model>[^_.]+)(?:_(?P<run>R\d))?"))
    assert logs.patterns().conditions == ["a/R1", "b/none"]


@pytest.mark.parametrize("rx", [r"(?P<prompt>q(?=1))", r"(?P<prompt>q)(?P=prompt)?", r"(?P<prompt>a++)",
                                r"(?>a)(?P<prompt>x)", r"(?x) (?P<prompt> x )", r"(?P<prompt>x)\Z", r"(?P<prompt>x)\1",
                                r"(?<!a)(?P<prompt>x)"])
@pytest.mark.parametrize("role", ["prompt_regex", "condition_from_filename"])
def test_regex_valid_in_python_but_not_in_re2(rx, role):
    with pytest.raises(RolesError, match="RE2") as e:
        em_roles(**{role: rx})
    assert role in one_line_error(e)


@pytest.mark.parametrize("rx", [5, b"(?P<prompt>.+)"])
def test_regex_that_is_not_a_string(rx):
    with pytest.raises(RolesError, match="must be a regular expression"):
        em_roles(prompt_regex=rx)


# --- roles ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"lower": 10, "upper": 0}, "must be below upper"),
    ({"lower": float("nan")}, "finite numbers"),
    ({"upper": float("inf")}, "finite numbers"),
    ({"lower": "0"}, "finite numbers"),
    ({"n_bins": 0}, "from 1 to 32767"),
    ({"n_bins": 40_000}, "from 1 to 32767"),
    ({"n_bins": 2.5}, "whole number"),
    ({"column": ""}, "non-empty column name"),
    ({"column": 5}, "non-empty column name"),
    ({"name": " "}, "non-empty column name"),
])
def test_bad_measures(kwargs, match):
    args = {"column": "aligned"} | kwargs
    with pytest.raises(RolesError, match=match):
        Measure(**args)


@pytest.mark.parametrize("kwargs, match", [
    ({"condition": "model"}, r"write \['model'\]"),
    ({"prompt": ""}, "non-empty column name"),
    ({"verdict": 3}, "non-empty column name"),
    ({"features": "format"}, "list of column names"),
    ({"score_verdicts": "CODE"}, "list of strings"),
    ({"verdict_levels": [1, 2]}, "list of strings"),
    ({"measures": ["aligned"]}, "list of Measure"),
    ({"unique_ids": "no"}, "true or false"),
    ({"prompt": " question_id"}, "surrounding spaces.*write 'question_id'"),
    ({"measures": [Measure("x", name="prompt")]}, "measure 'prompt' has the name of a column simstats adds"),
    ({"measures": [Measure("x", name="Count")]}, "measure 'Count'"),
    ({"measures": [Measure("x", name="model")], "condition": ["model"]}, "name of a condition part"),
    ({"condition": ["prompt", "model"]}, "condition part 'prompt'"),
    ({"features": ["verdict"]}, "prompt feature 'verdict'"),
    ({"features": ["format"], "prompt_regex": r"(?P<prompt>.+)_(?P<Format>x)"}, "prompt feature"),
])
def test_bad_roles(kwargs, match):
    with pytest.raises(RolesError, match=match):
        Roles(**kwargs)


def test_generic_column_names_still_work(tmp_path):
    """Columns named like the outputs (condition, prompt, verdict) are fine as the roles that use those names."""
    p = tmp_path / "x.csv"
    p.write_text("condition,prompt,score,verdict\na,q1,5,\nb,q2,7,CODE\n")
    roles = Roles(condition=["condition"], prompt="prompt", measures=[Measure("score")], verdict="verdict")
    acc = open_logs(p, roles).accounting()
    assert acc.rows_used == 2


@pytest.mark.parametrize("body, match", [
    ('[[measure]]\ncolumn = "a"\nlower = "x"\n', r"\[\[measure\]\] #1 lower must be a number"),
    ('[[measure]]\ncolumn = "a"\nbins = 2.5\n', "bins must be a whole number"),
    ('[[measure]]\ncolumn = "a"\nlower = 5\nupper = 1\n', "must be below upper"),
    ('[measure]\ncolumn = "a"\n', r"measure must be a list of \[\[measure\]\] tables"),
    ("measure = 3\n", "measure must be a list"),
    ("[condition]\ncolumns = 5\n", "columns must be a column name or a list"),
    ("condition = 5\n", "must be a table"),
    ('[prompt]\ndefaults = "x"\n', "defaults must be a table"),
    ("[prompt]\nregex = 5\n", "regex must be a regular expression"),
    ("[prompt]\nregex = '(?P<prompt>a)(?=b)'\n", "RE2"),
    ('[id]\ncolumn = "a"\nunique = "no"\n', "unique must be true or false"),
    ('[verdict]\nin_scores = "CODE"\n', "in_scores must be a list of strings"),
    ("[[measure]]\ncolumn = 5\n", "non-empty column name"),
])
def test_bad_roles_files(tmp_path, body, match):
    f = tmp_path / "roles.toml"
    f.write_text(body)
    with pytest.raises(RolesError, match=match) as e:
        load_roles(f)
    assert str(e.value).startswith(str(f)) and "\n" not in str(e.value)


def test_roles_file_that_is_a_folder(tmp_path):
    with pytest.raises(RolesError, match="cannot read the roles file"):
        load_roles(tmp_path)


def test_every_error_here_is_a_simstats_error():
    assert issubclass(DataError, SimstatsError) and issubclass(RolesError, SimstatsError)
