"""Finding log files and loading each one as a DuckDB relation with its 1-based row numbers.

Formats: CSV, JSONL (``.jsonl`` / ``.ndjson``), JSON (a list of records, or an Inspect AI log), Parquet, and
Inspect AI eval logs (``.eval``; read through ``inspect_ai``'s own API, an optional extra). Parquet stays on disk
and is scanned by DuckDB, so large tables never pass through pandas; the other formats are small enough to load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from simstats.errors import DataError

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
            ".pq": "parquet", ".eval": "inspect"}
ROW = "_row"
FILE = "_file"


@dataclass
class Discovery:
    """The files a set of paths names, and the files inside named folders that were skipped (not a log format)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def discover(paths: list[str | Path]) -> Discovery:
    """Expand files and folders (recursively, sorted) into log files.

    >>> discover([])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simstats.errors.DataError: no input: give one or more log files or folders
    """
    if not paths:
        raise DataError("no input: give one or more log files or folders")
    found = Discovery()
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                (found.files if f.suffix.lower() in SUFFIXES else found.skipped).append(f)
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise DataError(f"unsupported file type {p.suffix or '(none)'!r}; simstats reads "
                                + ", ".join(sorted(SUFFIXES)), file=str(p))
            found.files.append(p)
        else:
            raise DataError("no such file or folder", file=str(p))
    if not found.files:
        raise DataError("no log files (" + ", ".join(sorted(SUFFIXES)) + ") found", file=", ".join(map(str, paths)))
    return found


def _check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", file=str(path)) from None
    if size == 0:
        raise DataError("the file is empty", file=str(path))


def _as_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Make mixed-type object columns uniform strings so DuckDB can scan them; numbers keep their dtype."""
    for c in df.columns:
        if df[c].dtype == object or str(df[c].dtype).startswith("str"):
            df[c] = df[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
            df[c] = df[c].astype(object)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file (is it really CSV?)", file=str(path)) from None
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=str(path)) from None
    except pd.errors.ParserError as e:
        raise DataError(f"malformed CSV: {str(e).strip()}", file=str(path)) from None
    return df


def _records_frame(records: list, path: Path, first_row: int = 1) -> pd.DataFrame:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"expected a JSON object, got {type(rec).__name__}", file=str(path), row=first_row + i)
    return pd.DataFrame.from_records(records)


def _read_jsonl(path: Path) -> pd.DataFrame:
    records, rows = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file (is it really JSONL?)", file=str(path)) from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON ({e.msg} at character {e.pos + 1})", file=str(path), row=lineno) from None
        if not isinstance(rec, dict):
            raise DataError(f"expected a JSON object, got {type(rec).__name__}", file=str(path), row=lineno)
        records.append(rec)
        rows.append(lineno)
    if not records:
        raise DataError("the file holds no JSON records", file=str(path))
    df = pd.DataFrame.from_records(records)
    df[ROW] = rows  # JSONL rows are line numbers, so blank lines keep numbering honest
    return df


def _read_json(path: Path) -> pd.DataFrame:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file (is it really JSON?)", file=str(path)) from None
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON ({e.msg} at line {e.lineno})", file=str(path)) from None
    if isinstance(data, dict) and "eval" in data:  # an Inspect AI log written with log_format="json"
        return _read_inspect(path)
    if isinstance(data, dict):
        for key in ("records", "rows", "data", "samples"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records (or an Inspect AI log)", file=str(path))
    if not data:
        raise DataError("the file holds no JSON records", file=str(path))
    return _records_frame(data, path)


def _read_inspect(path: Path) -> pd.DataFrame:
    from simstats.logs.inspect_reader import read_inspect_log

    return read_inspect_log(path)


_PANDAS_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "inspect": _read_inspect}


def load_relation(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> list[str]:
    """Create view ``name`` over one log file with its row numbers in ``_row``; return its user columns."""
    _check_not_empty(path)
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "parquet":
        try:
            rel = con.read_parquet(str(path), file_row_number=True)
            cols = [c for c in rel.columns if c != "file_row_number"]
            rel.project(", ".join([f'"{c}"' for c in cols] + [f"file_row_number + 1 AS {ROW}"])).create_view(name)
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            raise DataError(f"not a readable Parquet file ({msg})", file=str(path)) from None
        return cols
    df = _PANDAS_READERS[kind](path)
    if len(df) == 0:
        raise DataError("the file has a header but no data rows", file=str(path))
    if ROW not in df.columns:
        df[ROW] = range(1, len(df) + 1)
    df = _as_strings(df)
    con.register(name, df)
    return [c for c in df.columns if c != ROW]
