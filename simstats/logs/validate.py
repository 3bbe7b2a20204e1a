"""Input checks that stop a run with one clear message naming file, row and column.

Each check reports the first offending row and how many more share the problem. Numeric score columns are first
checked from their min and max, which DuckDB reads from Parquet row-group statistics without scanning the data;
only when those bounds look wrong (or are NaN) does the exact per-row check run and name the row.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import duckdb

from simstats.errors import DataError
from simstats.logs.normalise import in_list, lit, measure_text, measure_value, q
from simstats.logs.readers import ROW, log_kind
from simstats.logs.roles import Roles

_NUMBERS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint",
            "uhugeint", "float", "double", "decimal", "boolean", "null"}
_UNREADABLE = {"struct", "list", "map", "array", "union", "blob"}  # nested or binary: no text a role could use


def _shown(names: list[str]) -> str:
    """Column names for a one-line message (quoted where they hold line breaks or other control characters)."""
    return ", ".join(n if n.isprintable() else repr(n) for n in names)


def _missing_hint(col: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(col, columns, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not columns:
        return "; the file has no named columns"
    hint = f"; the file has: {_shown(columns[:12])}" + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")
    if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        hint += " (a single column: is the file separated by ';', tabs or '|' instead of commas?)"
    return hint


def _check_type(col: str, kind: duckdb.DuckDBPyType, is_score: bool, path: Path) -> None:
    """Role columns hold scalars; score columns numbers, or text that spells them (checked row by row later)."""
    if kind.id in _UNREADABLE:
        raise DataError(f"holds {kind} values, which no role can read (a role needs plain numbers or text: flatten "
                        "nested data first)", file=str(path), column=col)
    if is_score and kind.id not in _NUMBERS and str(kind) != "VARCHAR":
        raise DataError(f"holds {kind} values, not scores (a score column holds numbers, or text that spells them)",
                        file=str(path), column=col)


def check_columns(roles: Roles, columns: list[str], path: Path) -> None:
    """Every column a role names must exist in the file, unambiguously, with values the role can read.

    ``columns`` may be a :class:`~simstats.logs.readers.Columns`, which also knows each column's type and the
    columns that were left out of the file's view (repeated names, nested values), with the error for each.
    """
    problems = getattr(columns, "problems", {})
    types = getattr(columns, "types", {})
    scores = {m.column for m in roles.measures}
    for col in roles.required_columns():
        if col.lower() in problems:
            raise problems[col.lower()]
        if col not in columns:
            raise DataError(f"missing column (needed as a role){_missing_hint(col, columns)}", file=str(path),
                            column=col)
        if col in types:
            _check_type(col, types[col], col in scores, path)


def _first(con: duckdb.DuckDBPyConnection, view: str, cond: str) -> tuple[int, int] | None:
    row, n = con.execute(f"SELECT min({ROW}), count(*) FROM {view} WHERE {cond}").fetchall()[0]
    return None if not n else (int(row), int(n))


def _short(value: object) -> str:
    """``repr`` of a cell, cut so that a long cell keeps the message readable."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _raise(path: Path, found: tuple[int, int], column: str, message: str) -> None:
    row, n = found
    more = f" ({n - 1} more row{'s' if n > 2 else ''} like it)" if n > 1 else ""
    raise DataError(message + more, file=str(path), row=row, column=column)


def _bounds(con: duckdb.DuckDBPyConnection, view: str, columns: list[str]) -> dict[str, tuple]:
    """(min, max) of each numeric column in one query (from Parquet statistics where the file has them)."""
    if not columns:
        return {}
    try:
        row = con.execute(f"SELECT {', '.join(f'min({q(c)}), max({q(c)})' for c in columns)} "
                          f"FROM {view}").fetchall()[0]
    except duckdb.Error:  # a type without an order: leave it to the exact check (and its error)
        return {}
    return {c: (row[2 * i], row[2 * i + 1]) for i, c in enumerate(columns)}


def _surely_in_range(bounds: tuple, lower: float, upper: float) -> bool:
    """True when a column's (min, max) prove every value lies in [lower, upper] (all-empty columns pass)."""
    lo, hi = bounds
    if lo is None:
        return True
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return False
    # NaN (which DuckDB sorts above every number) and infinities fail here and go to the exact check.
    return math.isfinite(lo) and math.isfinite(hi) and lower <= lo and hi <= upper


def _check_readable(con: duckdb.DuckDBPyConnection, roles: Roles, view: str, path: Path) -> None:
    """Decode every role column of a Parquet file once (a tenth of the time an open takes), so that a damaged data
    page under an intact footer is reported here, naming the file, and not from inside a later aggregate query."""
    if log_kind(path) != "parquet":
        return  # the other formats were parsed whole into memory already
    cols = ", ".join(q(c) for c in roles.required_columns())
    try:
        con.execute(f"SELECT count(*) FROM {view} WHERE hash({cols}) = 0").fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"the Parquet data is damaged and cannot be read ({first})", file=str(path)) from None


def check_values(con: duckdb.DuckDBPyConnection, roles: Roles, view: str, path: Path, text_cols: set[str]) -> None:
    """Scores must be numbers inside their declared range; verdicts must be declared levels."""
    _check_readable(con, roles, view, path)
    bounds = _bounds(con, view, list(dict.fromkeys(m.column for m in roles.measures if m.column not in text_cols)))
    for m in roles.measures:
        is_text = m.column in text_cols
        if m.has_levels:
            _check_levels(con, roles, m, view, path, is_text)
            continue
        if m.kind == "continuous":
            _check_finite(con, roles, m, view, path, is_text)
            continue
        if m.column in bounds and _surely_in_range(bounds[m.column], m.lower, m.upper):
            continue
        if is_text:
            t = measure_text(m.column, True)
            bad = f"{t} IS NOT NULL AND NOT {in_list(t, roles.score_verdicts)} AND TRY_CAST({t} AS DOUBLE) IS NULL"
            found = _first(con, view, bad)
            if found:
                value = con.execute(f"SELECT {t} FROM {view} WHERE {ROW} = {found[0]}").fetchall()[0][0]
                allowed = ", ".join(roles.score_verdicts + ["an empty cell"])
                _raise(path, found, m.column, f"score {_short(value)} is not a number (allowed besides numbers: "
                                             f"{allowed})")
        v = measure_value(m.column, is_text, roles.score_verdicts)
        found = _first(con, view, f"({v}) < {m.lower} OR ({v}) > {m.upper} OR isinf({v})")
        if found:
            value = con.execute(f"SELECT {v} FROM {view} WHERE {ROW} = {found[0]}").fetchall()[0][0]
            _raise(path, found, m.column, f"score {value:g} is outside its declared range [{m.lower:g}, {m.upper:g}]")
    if roles.verdict and roles.verdict_levels is not None:
        t = f"NULLIF(trim(CAST({q(roles.verdict)} AS VARCHAR)), '')"
        found = _first(con, view, f"{t} IS NOT NULL AND NOT {in_list(t, roles.verdict_levels)}")
        if found:
            value = con.execute(f"SELECT {t} FROM {view} WHERE {ROW} = {found[0]}").fetchall()[0][0]
            _raise(path, found, roles.verdict,
                   f"unknown verdict {_short(value)}; declared levels: {', '.join(roles.verdict_levels)}")


def _check_levels(con: duckdb.DuckDBPyConnection, roles: Roles, m, view: str, path: Path, is_text: bool) -> None:
    """Every non-empty value of a binary or categorical measure is one of its levels (or a verdict word)."""
    if is_text:
        t = measure_text(m.column, True)
        known = [tok for toks in m.tokens() for tok in toks]
        bad = f"{t} IS NOT NULL AND NOT {in_list(t, roles.score_verdicts)} AND NOT {in_list(f'lower({t})', known)}"
    else:
        t = f"CAST({q(m.column)} AS DOUBLE)"
        bad = f"{t} IS NOT NULL AND NOT isnan({t}) AND {t} NOT IN ({', '.join(str(i) for i in range(len(m.tokens())))})"
    found = _first(con, view, bad)
    if found:
        value = con.execute(f"SELECT {t} FROM {view} WHERE {ROW} = {found[0]}").fetchall()[0][0]
        levels = ", ".join(m.level_names or ())
        spell = " (or 1/0, true/false, yes/no, C/I, pass/fail)" if m.kind == "binary" and m.levels is None else ""
        _raise(path, found, m.column, f"value {_short(value)} is not a level of the {m.kind} measure {m.key!r}: "
                                      f"{levels}{spell}")


def _check_finite(con: duckdb.DuckDBPyConnection, roles: Roles, m, view: str, path: Path, is_text: bool) -> None:
    """A continuous measure's values are numbers (any size; beyond the grid they fall in its outer bins)."""
    if is_text:
        t = measure_text(m.column, True)
        found = _first(con, view, f"{t} IS NOT NULL AND NOT {in_list(t, roles.score_verdicts)} AND "
                                  f"TRY_CAST({t} AS DOUBLE) IS NULL")
        if found:
            value = con.execute(f"SELECT {t} FROM {view} WHERE {ROW} = {found[0]}").fetchall()[0][0]
            _raise(path, found, m.column, f"value {_short(value)} is not a number")
    v = measure_value(m.column, is_text, roles.score_verdicts)
    found = _first(con, view, f"isinf({v})")
    if found:
        _raise(path, found, m.column, "value is infinite")


def _ids_surely_unique(con: duckdb.DuckDBPyConnection, rows_view: str) -> bool:
    """True when the 64-bit hashes of all ids differ. Sorting them in numpy is several times faster (and lighter)
    than a GROUP BY over millions of distinct strings; equal neighbours (a duplicate, or rarely a hash collision)
    send the caller to the exact query."""
    h = con.execute(f"SELECT hash(_id) AS h FROM {rows_view} WHERE _id IS NOT NULL").fetchnumpy()["h"]
    h.sort()
    return not bool((h[1:] == h[:-1]).any())


def check_unique_ids(con: duckdb.DuckDBPyConnection, roles: Roles, rows_view: str) -> None:
    """Declared-unique ids must not repeat, across all files."""
    if not (roles.id and roles.unique_ids) or _ids_surely_unique(con, rows_view):
        return
    first = con.execute(f"""
        WITH d AS (SELECT _id, count(*) AS n FROM {rows_view} WHERE _id IS NOT NULL GROUP BY _id HAVING n > 1)
        SELECT r._id, r._file, r._row, (SELECT count(*) FROM d) FROM {rows_view} r JOIN d USING (_id)
        ORDER BY r._file, r._row LIMIT 1""").fetchall()
    if first:
        ident, file, row, n = first[0]
        other_file, other_row = con.execute(
            f"SELECT _file, _row FROM {rows_view} WHERE _id = {lit(ident)} AND NOT (_file = {lit(file)} AND "
            f"_row = {row}) ORDER BY _file, _row LIMIT 1").fetchall()[0]
        extra = f"; {n - 1} more ids repeat" if n > 1 else ""
        raise DataError(f"duplicate id {ident!r} (also in {other_file}, row {other_row}){extra}",
                        file=file, row=row, column=roles.id)


__all__ = ["check_columns", "check_unique_ids", "check_values"]
