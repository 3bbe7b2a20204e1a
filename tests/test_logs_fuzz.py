"""Fuzz corpus for every reader: whatever a file holds, ``open_logs`` either reads it with balanced accounting
(and, for files built from rows, exactly those rows) or raises a SimstatsError whose message is one line.

The inputs: logs built from random rows (random column names -- repeated, empty, unicode, quotes, line breaks --
and random cells: numeric strings, NaN spellings, verdicts, mixed types, nested values), the same text in random
encodings, random bytes, truncations and byte flips of valid files. Every test is derandomized, so CI runs the
same examples each time and cannot fail by luck.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import em_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simstats.errors import SimstatsError
from simstats.logs import Measure, Roles, em_roles, open_logs

# A read costs DuckDB a tenth of a second or more, so these example counts keep the file well under a minute.
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CHEAP = settings(SETTINGS, max_examples=80)  # inputs refused early (random bytes) cost little
ROLE_COLUMNS = ["model", "question_id", "aligned", "coherent"]
ROLES = [
    Roles(condition=["model"], prompt="question_id", measures=[Measure("aligned"), Measure("coherent")]),
    em_roles(condition=["model"]),
    em_roles(condition=["model"], verdict="aligned", id="question_id", unique_ids=False),
    Roles(prompt="question_id", measures=[Measure("coherent", 0, 100, 4)], score_verdicts=[]),
]

# --- cells and names --------------------------------------------------------------------------------------------

NAN_SPELLINGS = ["nan", "NaN", "-nan", "NA", "N/A", "n/a", "null", "NULL", "None", "none", "", " "]
numeric_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.from_regex(r"\A[+-]?[0-9]{0,4}([.,][0-9]{0,4})?([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(["1_000", "0x10", "1e400", "1e-400", " 50 ", "\uff15\uff10", "50%", "inf", "-Infinity", "+5",
                     "5.", "#N/A", "-"]),
)
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
cell = st.one_of(numeric_text, st.sampled_from(NAN_SPELLINGS + ["CODE", "REFUSAL", "q1", "q1_json", "m"]), text)
json_cell = st.one_of(
    cell, st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=False),
    st.lists(st.integers(0, 9), max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
)
odd_name = st.one_of(
    st.sampled_from(["Aligned", " aligned", "aligned ", "\ufeffmodel", "", " ", "_row", "_ROW", "file_row_number",
                     "note", 'quo"te', "new\nline", "com,ma", "x.1", "C1", "aligned_1", "condition", "prompt"]),
    text,
)
# Cells of the role columns are mostly plausible (so that reads get far), now and then anything at all.
score = st.one_of(st.floats(0, 100).map(lambda x: f"{x:.4g}"), st.integers(0, 100).map(str),
                  st.sampled_from(NAN_SPELLINGS + ["CODE", "REFUSAL"]))
ROLE_CELLS = {"model": st.sampled_from(["a", "b", "", " a "]),
              "question_id": st.sampled_from(["q1", "q1_json", "q2_template", "", "  "]),
              "aligned": score, "coherent": score}
JSON_ROLE_CELLS = ROLE_CELLS | {"aligned": st.one_of(score, st.floats(0, 100), st.none()),
                                "coherent": st.one_of(st.integers(0, 100), st.floats(0, 100), st.none())}


KEEP = st.sampled_from([True] * 9 + [False])  # mostly True: most inputs should get far enough to be read
extra_name = st.one_of(text.map(lambda t: "x" + t), text.map(lambda t: "x" + t), odd_name)


@st.composite
def header_row(draw) -> list[str]:
    """The role columns (now and then one renamed to an odd name) with extra columns among them."""
    cols = [c if draw(KEEP) else draw(st.one_of(odd_name, st.sampled_from(ROLE_COLUMNS))) for c in ROLE_COLUMNS]
    for extra in draw(st.lists(extra_name, max_size=4)):
        cols.insert(draw(st.integers(0, len(cols))), extra)
    return cols


@st.composite
def table(draw, wild=cell, role_cells=ROLE_CELLS) -> tuple[list[str], list[list]]:
    """A header and 1-10 rows; the role columns hold plausible cells, or (now and then) anything at all."""
    head = draw(header_row())
    tame = draw(KEEP)
    columns = [(role_cells[n] if tame else st.one_of(role_cells[n], wild)) if n in role_cells else wild
               for n in head]
    rows = draw(st.lists(st.tuples(*columns).map(list), min_size=1, max_size=10))
    return head, rows


def check(paths: Path | list[Path], roles: Roles, expected_rows: int | None = None) -> None:
    """The property: a balanced read of the expected rows, or a SimstatsError on one line; nothing else."""
    try:
        logs = open_logs(paths, roles)
    except SimstatsError as e:
        lines = str(e).splitlines()
        assert len(lines) == 1 and lines[0].strip(), f"not one line: {str(e)!r}"
        return
    acc = logs.accounting()
    assert acc.rows_read == acc.rows_used + sum(acc.excluded.values())
    if expected_rows is not None:
        assert acc.rows_read == expected_rows
    assert len(logs.rows()) == acc.rows_used
    assert int(logs.patterns().table["count"].sum()) == acc.rows_used


# --- writers ----------------------------------------------------------------------------------------------------

def csv_bytes(header: list[str], rows: list[list[str]], newline: str = "\n") -> bytes:
    """CSV as ``csv`` writes it; with lineterminator "\r\n" it quotes cells holding either character (with "\n"
    it would leave a bare "\r" unquoted, which readers rightly take for a line break)."""
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().replace("\r\n", newline).encode()  # inside quotes too: the same rows


def valid_file(fmt: str) -> bytes:
    """A small valid log in format ``fmt``, as bytes."""
    rows = em_rows(12)
    if fmt == "csv":
        return csv_bytes(ROLE_COLUMNS, [[str(r[c]) for c in ROLE_COLUMNS] for r in rows])
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt == "json":
        return json.dumps(rows, indent=1).encode()
    out = io.BytesIO()
    table = pa.table({"model": [r["model"] for r in rows], "question_id": [r["question_id"] for r in rows],
                      "aligned": [None if r["aligned"] == "" else r["aligned"] for r in rows],
                      "coherent": [r["coherent"] for r in rows]})
    pq.write_table(table, out, row_group_size=4)
    return out.getvalue()


VALID = {fmt: valid_file(fmt) for fmt in ("csv", "jsonl", "json", "parquet")}


# --- structured inputs: the row count is known ------------------------------------------------------------------

@SETTINGS
@given(t=table(), roles=st.sampled_from(ROLES), newline=st.sampled_from(["\n", "\r\n"]))
def test_csv_from_random_rows(tmp_path_factory, t, roles, newline):
    header, rows = t
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_bytes(csv_bytes(header, rows, newline))
    check(path, roles, expected_rows=len(rows))


@SETTINGS
@given(t=table(json_cell, JSON_ROLE_CELLS), roles=st.sampled_from(ROLES), as_list=st.booleans(), ascii_only=st.booleans(),
       gaps=st.booleans())
def test_json_from_random_records(tmp_path_factory, t, roles, as_list, ascii_only, gaps):
    header, rows = t
    records = [dict(zip(header, r)) for r in rows]
    if gaps:  # records that lack keys (pandas fills the gaps)
        records = [{k: v for i, (k, v) in enumerate(rec.items()) if (i + j) % 3} for j, rec in enumerate(records)]
    d = tmp_path_factory.mktemp("fuzz")
    if as_list:
        path = d / "x.json"
        path.write_text(json.dumps(records, ensure_ascii=ascii_only), encoding="utf-8")
    else:
        path = d / "x.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records), encoding="utf-8")
    check(path, roles, expected_rows=len(records))


parquet_kind = st.sampled_from(["float", "int", "text", "bool", "struct", "list", "null"])
PLAUSIBLE_KIND = {"model": "text", "question_id": "text", "aligned": "float", "coherent": "float"}


def parquet_array(kind: str, cells: list, n: int) -> pa.Array:
    """An Arrow column of ``kind`` built from random cells (numbers parsed where they parse)."""
    def number(c):
        try:
            return float(c)
        except (TypeError, ValueError):
            return None

    if kind == "float":
        return pa.array([number(c) for c in cells], pa.float64())
    if kind == "int":
        return pa.array([len(str(c)) for c in cells], pa.int64())
    if kind == "bool":
        return pa.array([bool(str(c)) for c in cells])
    if kind == "struct":
        return pa.array([{"v": number(c)} for c in cells])
    if kind == "list":
        return pa.array([[number(c)] for c in cells])
    if kind == "null":
        return pa.nulls(n)
    return pa.array([None if c == "" else str(c) for c in cells], pa.string())


@SETTINGS
@given(t=table(), data=st.data(), roles=st.sampled_from(ROLES))
def test_parquet_from_random_columns(tmp_path_factory, t, data, roles):
    header, rows = t
    kinds = [PLAUSIBLE_KIND[n] if n in PLAUSIBLE_KIND and data.draw(st.integers(0, 4)) else data.draw(parquet_kind)
             for n in header]
    arrays = [parquet_array(kind, [r[j] for r in rows], len(rows)) for j, kind in enumerate(kinds)]
    path = tmp_path_factory.mktemp("fuzz") / "x.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=header), path)
    check(path, roles, expected_rows=len(rows))


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-16-le", "latin-1", "cp1252", "shift_jis"]


@SETTINGS
@given(fmt=st.sampled_from(["csv", "jsonl", "json"]), encoding=st.sampled_from(ENCODINGS),
       note=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
       compress=st.booleans(), roles=st.sampled_from(ROLES))
def test_text_in_random_encodings(tmp_path_factory, fmt, encoding, note, compress, roles):
    rows = [dict(r, note=note) for r in em_rows(8)]
    text = {"csv": csv_bytes(list(rows[0]), [[str(v) for v in r.values()] for r in rows]).decode(),
            "jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
            "json": json.dumps(rows, ensure_ascii=False)}[fmt]
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode(encoding, "replace")
    path = tmp_path_factory.mktemp("fuzz") / (f"x.{fmt}.gz" if compress else f"x.{fmt}")
    path.write_bytes(gzip.compress(data) if compress else data)
    # UTF-8 and text with a byte-order mark must read as written; other encodings may read or be refused
    readable = encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32")
    check(path, roles, expected_rows=len(rows) if readable else None)


# --- damaged files: only the property, the row count is unknown -------------------------------------------------

SUFFIXES = ["csv", "jsonl", "ndjson", "json", "parquet", "pq", "csv.gz", "jsonl.gz"]


@CHEAP
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=600), roles=st.sampled_from(ROLES))
def test_random_bytes(tmp_path_factory, suffix, data, roles):
    path = tmp_path_factory.mktemp("fuzz") / f"x.{suffix}"
    path.write_bytes(data)
    check(path, roles)


@SETTINGS
@given(fmt=st.sampled_from(["csv", "jsonl", "json", "parquet"]), cut=st.floats(0, 1), roles=st.sampled_from(ROLES))
def test_truncated_valid_files(tmp_path_factory, fmt, cut, roles):
    data = VALID[fmt][: int(len(VALID[fmt]) * cut)]
    path = tmp_path_factory.mktemp("fuzz") / f"x.{fmt}"
    path.write_bytes(data)
    check(path, roles)


@SETTINGS
@given(fmt=st.sampled_from(["csv", "jsonl", "json", "parquet"]), data=st.data(), roles=st.sampled_from(ROLES))
def test_byte_flips_in_valid_files(tmp_path_factory, fmt, data, roles):
    raw = bytearray(VALID[fmt])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / f"x.{fmt}"
    path.write_bytes(bytes(raw))
    check(path, roles)


@settings(SETTINGS, max_examples=8)
@given(entries=st.dictionaries(st.sampled_from(["header.json", "_journal/start.json", "samples/1_epoch_1.json", "x"]),
                               st.one_of(st.binary(max_size=60), st.just(b"{}"), st.just(b'{"eval": {}}')),
                               max_size=3), zipped=st.booleans())
def test_broken_inspect_logs(tmp_path_factory, entries, zipped):
    """Random zips (and random bytes) named .eval, read by inspect_ai when it is installed."""
    path = tmp_path_factory.mktemp("fuzz") / "x.eval"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for k, v in entries.items():
            z.writestr(k, v)
    path.write_bytes(out.getvalue() if zipped else b"".join(entries.values()) or b"x")
    check(path, ROLES[0])
