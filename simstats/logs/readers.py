"""Finding log files and loading each one as a DuckDB relation with its 1-based row numbers.

Formats: CSV, JSONL (``.jsonl`` / ``.ndjson``), JSON (a list of records, or an Inspect AI log), Parquet, and
Inspect AI eval logs (``.eval``; read through ``inspect_ai``'s own API, an optional extra). Parquet stays on disk
and is scanned by DuckDB, so large tables never pass through pandas; the other formats are small enough to load.
CSV, JSONL and JSON may be gzip-compressed (``x.csv.gz``); their text is UTF-8, or UTF-16 / UTF-32 with a
byte-order mark.

Column names are trimmed (surrounding spaces, a byte-order mark). A column that no role could read unambiguously
-- two columns with one name (DuckDB ignores case), the reserved name ``_row``, nested values (JSON objects and
lists) or text that is not valid Unicode -- is left out of the view and recorded in :class:`Columns`, so that it
stops the read only when a role names it.
"""

from __future__ import annotations

import codecs
import csv
import errno
import gzip
import io
import json
import math
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from simstats.errors import DataError

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
            ".pq": "parquet", ".eval": "inspect"}
TEXT_KINDS = ("csv", "jsonl", "json")  # the formats that may be gzip-compressed
COMPRESSED = (".gz", ".gzip", ".zip", ".bz2", ".xz", ".zst", ".7z")
ROW = "_row"
FILE = "_file"
_PARQUET_ROW = "file_row_number"  # the column DuckDB adds for Parquet row numbers
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 first: its LE mark starts FF FE
_NOT_A_LOG = {"missing": "no such file or folder", "special": "not a regular file (a pipe, socket or device)",
              "broken": "a broken symbolic link (its target is missing, or the link loops)"}
_NESTED = ((dict, "JSON objects (nested records)"), ((list, tuple, set), "lists"), ((bytes, bytearray), "binary values"))


class Columns(list):
    """The user columns of a loaded log (a list of their names), with what a role must not read.

    ``types`` maps each column to its DuckDB type. ``problems`` maps the lower-cased name of each column left out
    of the view (ambiguous, reserved, or holding values no role can use) to the error to raise if a role names it.
    """

    def __init__(self, names: list[str], types: dict[str, duckdb.DuckDBPyType] | None = None,
                 problems: dict[str, DataError] | None = None) -> None:
        super().__init__(names)
        self.types = types or {}
        self.problems = problems or {}


@dataclass
class Discovery:
    """The files a set of paths names, and the entries inside named folders that were skipped (not a log format,
    or hidden: a name starting with '.', such as ``.ipynb_checkpoints`` copies of the logs)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def log_kind(path: Path) -> str | None:
    """The format of a log from its file name (``x.csv.gz`` is gzip-compressed CSV); ``None`` when not a log."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        kind = SUFFIXES.get(Path(path.stem).suffix.lower())
        return kind if kind in TEXT_KINDS else None
    return SUFFIXES.get(suffix)


def _unsupported(path: Path) -> DataError:
    formats = ", ".join(sorted(SUFFIXES)) + " (CSV, JSONL and JSON also as .gz)"
    hint = "; decompress it first" if path.suffix.lower() in COMPRESSED else ""
    return DataError(f"unsupported file type {''.join(path.suffixes[-2:]) or '(none)'!r}; simstats reads "
                     f"{formats}{hint}", file=str(path))


def _entry(path: Path) -> str:
    """What a path is: 'dir', 'file', 'special' (pipe, socket, device), 'broken' (a link) or 'missing'."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise DataError(f"cannot read it ({e.strerror})", file=str(path)) from None
        return "broken" if os.path.islink(path) else "missing"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "special"


def _check_utf8_name(path: Path) -> None:
    """DuckDB (which holds file names in its tables) needs names that are valid UTF-8."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise DataError("the file name is not valid UTF-8; rename the file", file=shown) from None


def _walk(folder: Path, found: Discovery) -> None:
    """Add the files under ``folder`` (sorted). Links to folders are followed, but each folder is entered once,
    so a link back up the tree cannot loop; hidden entries are skipped."""
    def fail(e: OSError) -> None:
        raise DataError(f"cannot read the folder ({e.strerror})", file=str(e.filename))

    seen: set[tuple[int, int]] = set()
    files: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=fail, followlinks=True):
        try:
            st = os.stat(root)
        except OSError as e:
            fail(e)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        found.skipped += [Path(root, d) for d in sorted(dirs) if d.startswith(".")]
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(root, n) for n in names]
    for f in sorted(files):
        _add_found(f, found)


def _add_found(path: Path, found: Discovery) -> None:
    """File or skip one entry found inside a folder."""
    if path.name.startswith(".") or log_kind(path) is None:
        found.skipped.append(path)
        return
    _check_utf8_name(path)
    what = _entry(path)
    if what == "missing":
        raise DataError("the file disappeared while its folder was read", file=str(path))
    if what != "file":
        raise DataError(_NOT_A_LOG.get(what, "not a regular file"), file=str(path))
    found.files.append(path)


def _check_distinct(files: list[Path]) -> None:
    """The same file twice (named twice, or once more through a link) would count its rows twice."""
    first: dict[tuple[int, int], Path] = {}
    for f in files:
        try:
            st = os.stat(f)
        except OSError as e:
            raise DataError(f"cannot read the file ({e.strerror})", file=str(f)) from None
        key = (st.st_dev, st.st_ino)
        if st.st_ino and key in first:  # some file systems report inode 0 for every file
            raise DataError(f"is the same file as {first[key]} (named twice, or through a link); give each log "
                            "once", file=str(f))
        first.setdefault(key, f)


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
        _check_utf8_name(p)
        what = _entry(p)
        if what == "dir":
            _walk(p, found)
        elif what == "file":
            if log_kind(p) is None:
                raise _unsupported(p)
            found.files.append(p)
        else:
            raise DataError(_NOT_A_LOG[what], file=str(p))
    _check_distinct(found.files)
    if not found.files:
        also = f"; skipped {len(found.skipped)} other entries, e.g. {found.skipped[0].name!r}" if found.skipped else ""
        raise DataError("no log files (" + ", ".join(sorted(SUFFIXES)) + ") found" + also,
                        file=", ".join(map(str, paths)))
    return found


def _check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror})", file=str(path)) from None
    if size == 0:
        raise DataError("the file is empty", file=str(path))


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:  # unreadable, vanished, or a folder where a file was
        raise DataError(f"cannot read the file ({e.strerror or e})", file=str(path)) from None


def _text(path: Path, what: str) -> str:
    """The text of a log: gunzipped if gzip-compressed, decoded as UTF-8 or, after a byte-order mark, UTF-16/32."""
    data = _read_bytes(path)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"not a valid gzip file ({_first_line(e)})", file=str(path)) from None
        if not data:
            raise DataError("the file is empty (once decompressed)", file=str(path))
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        if not encoding.startswith("utf-8"):
            name = encoding.upper()
            raise DataError(f"not a UTF-8 text file, nor valid {name} although it starts with a {name} byte-order "
                            f"mark (is it really {what}?)", file=str(path)) from None
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"not a UTF-8 text file (byte 0x{data[e.start]:02x} on line {line}; is it really {what}? "
                        "save it as UTF-8)", file=str(path)) from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise DataError(f"not a text file: NUL character on line {line} (binary data, or UTF-16 without a "
                        "byte-order mark? save it as UTF-8)", file=str(path))
    return text


@dataclass
class _Table:
    """A log read into pandas: raw column labels (maybe repeated), row numbers, and keys a record repeated."""

    frame: pd.DataFrame
    rows: list[int] | None = None
    repeated: dict[str, DataError] = field(default_factory=dict)  # raw name -> why its cells are ambiguous
    text_only: bool = False  # every cell is a str or None, decoded from bytes (a CSV): nothing nested or invalid


def _read_csv(path: Path) -> _Table:
    text = _text(path, "CSV")
    try:
        # header=None: the header is read as a row, so repeated names stay visible (pandas would rename the second
        # 'x' to 'x.1') and a header shorter than its rows is an error (pandas would make an index of column 1).
        raw = pd.read_csv(io.StringIO(text), header=None, dtype=object, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=str(path)) from None
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(f"malformed CSV: {_first_line(e)}", file=str(path)) from None
    frame = raw.iloc[1:].reset_index(drop=True)
    names = ["" if pd.isna(v) else str(v) for v in raw.iloc[0]]
    return _Table(frame.set_axis(names, axis=1), text_only=True, repeated=_short_rows(text, names, len(frame), path))


def _short_rows(text: str, names: list[str], n_rows: int, path: Path) -> dict[str, DataError]:
    """For each column, the first row that ends before reaching it (the mark of a truncated file or of missing
    commas; pandas fills such cells silently). Rows are counted by Python's csv module; where it and pandas
    disagree on the records (an exotic file), nothing is reported."""
    try:
        # newline=None: a bare "\r" ends a record, as it does for pandas (csv refuses it otherwise)
        lines = io.StringIO(text, newline=None)
        counts = [len(r) for r in csv.reader(lines) if r and (len(r) > 1 or r[0].strip(" \t"))]
    except csv.Error:
        return {}
    if len(counts) != n_rows + 1:
        return {}
    found: dict[str, DataError] = {}
    for row, n in enumerate(counts[1:], start=1):
        for name in names[n:]:
            found.setdefault(name, DataError(f"the row ends after {n} of the header's {len(names)} fields, so it "
                                             "has no value here (a truncated file, or missing commas?)",
                                             file=str(path), row=row, column=_clean_name(name)))
        if len(found) == len(set(names[1:])):  # every column that can be missing is named already
            break
    return found


class _Object(dict):
    """A JSON object that repeated a key (``json`` would keep the last value silently)."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for ``json``: a dict that remembers which keys it saw more than once."""
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    obj, seen = _Object(d), set()
    obj.repeated = []
    for k, _ in pairs:
        if k in seen:
            obj.repeated.append(k)
        seen.add(k)
    return obj


_JSON = json.JSONDecoder(object_pairs_hook=_object)  # one decoder: json.loads(hook=...) builds one per call


def _json_type(value: Any) -> str:
    """How JSON names the kind of a parsed value."""
    kinds = ((dict, "an object"), (list, "a list"), (str, "a string"), (bool, "true/false"), ((int, float), "a number"))
    return next((name for t, name in kinds if isinstance(value, t)), "null" if value is None else type(value).__name__)


def _records_table(records: list, rows: list[int], path: Path) -> _Table:
    """JSON records as a frame of Python objects (typed later, column by column)."""
    repeated: dict[str, DataError] = {}
    for rec, row in zip(records, rows):
        if not isinstance(rec, dict):
            raise DataError(f"expected a JSON object, got {_json_type(rec)}", file=str(path), row=row)
        for key in getattr(rec, "repeated", ()):
            repeated.setdefault(key, DataError("the key appears more than once in this JSON object, so its "
                                               "value is ambiguous", file=str(path), row=row, column=key))
    # dtype=object keeps values as parsed (pandas would turn ints with a gap into floats, "1" into "1.0")
    return _Table(pd.DataFrame(records, index=range(len(records)), dtype=object), rows, repeated)


def _read_jsonl(path: Path) -> _Table:
    text = _text(path, "JSONL")
    records, rows = [], []
    # Lines end at "\n" only: str.splitlines() would also split inside a string holding U+2028 or \x1c.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_JSON.decode(line))
        except json.JSONDecodeError as e:
            hint = " (a JSON list? name the file .json)" if not records and line.lstrip().startswith("[") else ""
            raise DataError(f"malformed JSON ({e.msg} at character {e.pos + 1}){hint}", file=str(path),
                            row=lineno) from None
        except RecursionError:
            raise DataError("JSON nested too deeply", file=str(path), row=lineno) from None
        rows.append(lineno)  # JSONL rows are line numbers, so blank lines keep numbering honest
    if not records:
        raise DataError("the file holds no JSON records", file=str(path))
    return _records_table(records, rows, path)


def _read_json(path: Path) -> _Table:
    text = _text(path, "JSON")
    try:
        data = _JSON.decode(text)
    except json.JSONDecodeError as e:
        hint = " (one JSON object per line? name the file .jsonl)" if e.msg == "Extra data" else ""
        raise DataError(f"malformed JSON ({e.msg} at line {e.lineno}){hint}", file=str(path)) from None
    except RecursionError:
        raise DataError("JSON nested too deeply", file=str(path)) from None
    if isinstance(data, dict) and "eval" in data:  # an Inspect AI log written with log_format="json"
        return _read_inspect(path)
    if isinstance(data, dict):
        keys = [k for k in ("records", "rows", "data", "samples") if isinstance(data.get(k), list)]
        if len(keys) > 1:
            raise DataError(f"holds lists under both {keys[0]!r} and {keys[1]!r}, so which one holds the records "
                            "is ambiguous", file=str(path))
        data = data[keys[0]] if keys else data
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records (or an Inspect AI log)", file=str(path))
    if not data:
        raise DataError("the file holds no JSON records", file=str(path))
    return _records_table(data, list(range(1, len(data) + 1)), path)


def _read_inspect(path: Path) -> _Table:
    from simstats.logs.inspect_reader import read_inspect_log

    return _Table(read_inspect_log(path))


_PANDAS_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json, "inspect": _read_inspect}


def _clean_name(name: Any) -> str:
    """A column name without surrounding spaces or byte-order mark."""
    return str(name).strip().strip("\ufeff").strip()


@dataclass
class _Plan:
    """Which columns of a file go into its view (positions, clean names), and why the others do not."""

    keep: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    problems: dict[str, DataError] = field(default_factory=dict)


def _name_problem(raw: list[str], positions: list[int], path: Path) -> DataError | None:
    """Why the columns at ``positions`` (one name up to case and spaces) cannot be read, if they cannot."""
    name = _clean_name(raw[positions[0]])
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return DataError("the column name is not valid Unicode", file=str(path), column=name)
    if name.lower() == ROW:
        return DataError(f"the column name {ROW!r} is reserved for row numbers; rename the column",
                         file=str(path), column=name)
    if len(positions) > 1:
        which = ", ".join(f"#{i + 1} {raw[i]!r}" for i in positions)
        return DataError(f"{len(positions)} columns have this name ({which}; names are compared ignoring case "
                         "and surrounding spaces), so which one is meant is ambiguous: rename or remove the others",
                         file=str(path), column=name)
    return None


def _plan_columns(raw: list[Any], path: Path) -> _Plan:
    """Keep each column whose clean name is non-empty and unique ignoring case (DuckDB cannot tell 'a' from 'A')."""
    raw = [str(r) for r in raw]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(raw):
        if _clean_name(r):  # a column without a name cannot be named by a role: leave it out
            groups.setdefault(_clean_name(r).lower(), []).append(i)
    plan = _Plan()
    for key, positions in groups.items():
        problem = _name_problem(raw, positions, path)
        if problem is None:
            plan.keep.append(positions[0])
        else:
            plan.problems[key] = problem
    plan.keep.sort()
    plan.names = [_clean_name(raw[i]) for i in plan.keep]
    return plan


def _bad_text_position(values: pd.Series) -> int | None:
    """Position of the first string that is not valid Unicode (an unpaired surrogate from a JSON escape)."""
    strings = [v for v in values if isinstance(v, str)]
    joined = "".join(strings)
    if joined.isascii():
        return None
    try:
        joined.encode("utf-8")  # one C-speed check of the whole column
        return None
    except UnicodeEncodeError:
        pass
    for i, v in enumerate(values):
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return i
    return None


def _value_problem(values: pd.Series, rows: list[int], path: Path, column: str) -> DataError | None:
    """A nested value (JSON object or list) or invalid text in an object column, which no role can read."""
    if values.dtype != object:
        return None
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "integer", "floating", "mixed-integer-float", "boolean", "empty"):
        for i, v in enumerate(values):
            nested = next((name for t, name in _NESTED if isinstance(v, t)), None)
            if nested:
                return DataError(f"holds {nested}, which no role can read (a role needs plain numbers or text: "
                                 "flatten nested data first)", file=str(path), row=rows[i], column=column)
    i = _bad_text_position(values) if kind in ("string", "mixed") else None
    if i is not None:
        return DataError("text that is not valid Unicode (an unpaired surrogate escape such as \\ud800)",
                         file=str(path), row=rows[i], column=column)
    return None


def _text_cell(v: Any) -> str | None:
    """A cell of a mixed column as text; booleans spelled as DuckDB spells them, so files of either kind agree."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _typed(values: pd.Series) -> pd.Series:
    """An object column as numbers, booleans or text: whole numbers stay whole (DuckDB prints 1, not 1.0), and a
    column that mixes kinds becomes text, which the score checks then judge cell by cell."""
    if values.dtype != object and not str(values.dtype).startswith("str"):
        return values
    kind = pd.api.types.infer_dtype(values, skipna=True)
    try:
        if kind == "integer":
            return values.astype("Int64")
        if kind in ("floating", "mixed-integer-float"):
            return values.astype("float64")
        if kind == "boolean":
            return values.astype("boolean")
    except (OverflowError, TypeError, ValueError):  # e.g. a whole number beyond 64 bits: keep it as text
        pass
    if kind == "string":  # text already: only the missing cells change (to None)
        return values.astype(object).where(values.notna(), None)
    return values.map(_text_cell).astype(object)


def _typed_frame(frame: pd.DataFrame, text_only: bool) -> pd.DataFrame:
    """Every column through :func:`_typed`; a frame of text only (a CSV) in one step, as wide files need."""
    if text_only:
        values = frame.to_numpy(dtype=object, na_value=None)
        return pd.DataFrame(values, index=frame.index, columns=frame.columns, dtype=object)
    return pd.DataFrame({c: _typed(frame.iloc[:, i]) for i, c in enumerate(frame.columns)}, index=frame.index)


def _load_frame(con: duckdb.DuckDBPyConnection, path: Path, name: str, table: _Table) -> Columns:
    """Register one pandas-read log as view ``name``, leaving out the columns that no role could read."""
    frame = table.frame
    if len(frame) == 0:
        raise DataError("the file has a header but no data rows", file=str(path))
    rows = table.rows or list(range(1, len(frame) + 1))
    plan = _plan_columns(list(frame.columns), path)
    frame = frame.iloc[:, plan.keep].set_axis(plan.names, axis=1)
    repeated = {_clean_name(k).lower(): e for k, e in table.repeated.items()}
    problems = plan.problems
    for i, (col, dtype) in enumerate(zip(plan.names, frame.dtypes)):
        scan = dtype == object and not table.text_only
        problem = repeated.get(col.lower()) or (_value_problem(frame.iloc[:, i], rows, path, col) if scan else None)
        if problem is not None:
            problems[col.lower()] = problem
    keep = [i for i, c in enumerate(plan.names) if c.lower() not in problems]
    out = _typed_frame(frame.iloc[:, keep], table.text_only)
    out[ROW] = rows
    con.register(name, out)
    view = con.table(name)
    return Columns([c for c in out.columns if c != ROW], dict(zip(view.columns, view.types)), problems)


def _duckdb_path(path: Path) -> str:
    """A path as DuckDB's readers take it: absolute (DuckDB would expand a leading '~') with the glob characters
    '*', '?' and '[' escaped (DuckDB would read 'run[1].parquet' as the pattern matching 'run1.parquet')."""
    return re.sub(r"([*?\[])", r"[\1]", os.path.abspath(path))


def _parquet_names(con: duckdb.DuckDBPyConnection, source: str) -> tuple[list[str], int]:
    """The top-level column names of a Parquet file as stored (DuckDB renames a repeated 'x' to 'x_1') and its
    number of rows, both from the footer."""
    schema = con.execute("SELECT name, num_children FROM parquet_schema(?)", [source]).fetchall()
    names, i = [], 1  # row 0 is the root; each column is followed by its nested fields (depth first)
    for _ in range(schema[0][1] or 0):
        names.append(schema[i][0])
        pending = 1
        while pending:
            pending += (schema[i][1] or 0) - 1
            i += 1
    n_rows = con.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [source]).fetchall()[0][0]
    return names, int(n_rows or 0)


def _parquet_relation(con: duckdb.DuckDBPyConnection, path: Path, source: str,
                      names: list[str]) -> duckdb.DuckDBPyRelation:
    """The file's columns, in order, then its 0-based row numbers as the last column."""
    if any(n.lower() == _PARQUET_ROW for n in names):
        # DuckDB cannot add its row-number column next to a column of that name: number the rows in Arrow (in memory)
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read()  # (pq.read_table refuses repeated column names)
        return con.from_arrow(table.append_column("__simstats_row", pa.array(range(table.num_rows))))
    return con.read_parquet(source, file_row_number=True, hive_partitioning=False)


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Columns:
    source = _duckdb_path(path)
    try:
        names, n_rows = _parquet_names(con, source)
        if n_rows == 0:
            raise DataError("the Parquet file has no rows", file=str(path))
        plan = _plan_columns(names, path)
        rel = _parquet_relation(con, path, source, names)
        if len(rel.columns) != len(names) + 1:
            raise DataError(f"not a readable Parquet file (DuckDB reads {len(rel.columns) - 1} columns where its "
                            f"schema has {len(names)})", file=str(path))
        cols = [f"{q_ident(rel.columns[i])} AS {q_ident(n)}" for i, n in zip(plan.keep, plan.names)]
        rel.project(", ".join(cols + [f"{q_ident(rel.columns[-1])} + 1 AS {ROW}"])).create_view(name)
    except (duckdb.Error, OSError, ValueError) as e:  # pyarrow's errors are OSError / ValueError subclasses
        raise DataError(f"not a readable Parquet file ({_first_line(e)})", file=str(path)) from None
    view = con.table(name)
    return Columns(plan.names, dict(zip(view.columns, view.types)), plan.problems)


def q_ident(name: str) -> str:
    """Quote an SQL identifier (as :func:`simstats.logs.normalise.q`, which imports this module)."""
    return '"' + name.replace('"', '""') + '"'


def load_relation(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Columns:
    """Create view ``name`` over one log file with its row numbers in ``_row``; return its user columns."""
    _check_not_empty(path)
    kind = log_kind(path)
    if kind is None:
        raise _unsupported(path)
    if kind == "parquet":
        return _load_parquet(con, path, name)
    return _load_frame(con, path, name, _PANDAS_READERS[kind](path))
