"""Reading a set of logs under a role mapping: checks, row accounting, the row-level table and exact pattern counts.

All heavy lifting is SQL in an in-process DuckDB database: Parquet is scanned from disk, the other formats are
registered pandas frames. Nothing is written anywhere.

Pattern counts and the accounting come from one scan per file that counts the distinct combinations of the *raw*
role columns and the binned scores (the "summary"). The role mapping (trimming, the prompt regex, exclusion
reasons) then runs once per distinct raw key -- a few thousand -- instead of once per row, and the final grouping
and ordering run on small integer labels instead of strings. The row-level view (:meth:`LogSet.rows`) still maps
every row with the same SQL, so both paths share one definition of the mapping.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from simstats.errors import DataError
from simstats.logs.engine import connect
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.normalise import q, select_sql
from simstats.logs.patterns import Accounting, Patterns
from simstats.logs.readers import FILE, ROW, discover, load_relation
from simstats.logs.roles import Roles
from simstats.logs.validate import check_columns, check_unique_ids, check_values

ROWS = "rows_mapped"


def bin_sql(value: str, grid: Grid) -> str:
    """SQL for :meth:`Grid.bin` (same floor arithmetic, so both paths give identical bins)."""
    return (f"CAST(CASE WHEN {value} IS NULL THEN {MISSING_BIN} ELSE "
            f"least(greatest(floor(({value} - {grid.lower!r}) / {grid.width!r}), 0), {grid.n_bins - 1}) END "
            f"AS SMALLINT)")


def _floor_sql(column: str, grid: Grid) -> str:
    """The unclipped bin of a numeric score, as in :func:`bin_sql`; NULL and NaN pass through (cheap per row)."""
    return f"floor((CAST({q(column)} AS DOUBLE) - {grid.lower!r}) / {grid.width!r})"


def _clip_sql(floor: str, grid: Grid) -> str:
    """Finish :func:`_floor_sql` on the summary: clip to the grid, empty or NaN scores to ``MISSING_BIN``."""
    return (f"CAST(CASE WHEN {floor} IS NULL OR isnan({floor}) THEN {MISSING_BIN} "
            f"ELSE least(greatest({floor}, 0), {grid.n_bins - 1}) END AS SMALLINT)")


@dataclass
class _Source:
    """One checked file: its view, the columns of its raw key and its numeric score columns."""

    path: Path
    view: str
    text_cols: set[str]
    keys: list[str]      # raw columns the mapping reads besides numeric scores (text scores included: verdicts)
    numeric: list[str]   # numeric score columns (only their emptiness matters to the mapping)
    salt: int = 0        # of the key hash; see _hash_keys

    @property
    def key_hash(self) -> str:
        return _hash_sql([q(c) for c in self.keys], self.salt)

    def empty_flags(self, roles: Roles, table: str) -> list[str]:
        """SQL flags ``_null{n}``: is numeric score column n empty (NULL or NaN), read off its first measure's bin."""
        first = {}
        for j, m in enumerate(roles.measures):
            first.setdefault(m.column, f"{table}._bin{j}")
        return [f"({first[c]} IS NULL OR isnan({first[c]}))" for c in self.numeric]


def _hash_sql(columns: list[str], salt: int) -> str:
    return f"hash({', '.join(columns)}, {salt})"


def _hash_keys(con: duckdb.DuckDBPyConnection, src: _Source, table: str) -> None:
    """Create ``table``: the file's distinct raw keys and their 64-bit hash, choosing a salt that gives every key
    its own hash. The summary scan then groups by one integer instead of several strings (much faster), and
    checking the hashes on the distinct keys keeps the counts exact: a collision only changes the salt."""
    raw = ", ".join(f"{q(c)} AS _key{n}" for n, c in enumerate(src.keys))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT DISTINCT {raw} FROM {src.view}")
    keys = [f"_key{n}" for n in range(len(src.keys))]
    for salt in range(64):  # 64-bit collisions are vanishingly rare: the first salt almost always does
        expr = _hash_sql(keys, salt)
        n, distinct = con.execute(f"SELECT count(*), count(DISTINCT {expr}) FROM {table}").fetchall()[0]
        if n == distinct:
            src.salt = salt
            break
    else:
        raise RuntimeError(f"internal error: no collision-free key hash for {src.path}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT *, {expr} AS _h FROM {table}")


def _summarise(con: duckdb.DuckDBPyConnection, roles: Roles, sources: list[_Source], grids: dict[str, Grid],
               name: str) -> None:
    """Create, for every file i, the summary ``{name}_s{i}`` (key hash, unclipped bins, counts) and the mapped
    keys ``{name}_m{i}`` (key hash, emptiness, the row-level mapping, pattern labels), and the label tables."""
    levels = condition_columns(roles)
    label_cols = [q(c) for c in levels + ["condition", "prompt"] + roles.feature_names]
    labels = ", ".join(label_cols)
    mapped = []
    for i, src in enumerate(sources):
        s, k = f"{name}_s{i}", f"{name}_k{i}"
        floors = [f"{_floor_sql(m.column, grids[m.key])} AS _bin{j}"
                  for j, m in enumerate(roles.measures) if m.column not in src.text_cols]
        # The one full scan of the file: counts of key hash x unclipped bins.
        con.execute(f"CREATE OR REPLACE TEMP TABLE {s} AS SELECT {', '.join([f'{src.key_hash} AS _h'] + floors)}, "
                    f"count(*) AS _n FROM {src.view} GROUP BY ALL")
        # Its distinct keys (a few thousand), with which numeric scores are empty, the raw values and an id in _row.
        flags = [f"{e} AS _null{n}" for n, e in enumerate(src.empty_flags(roles, s))]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {k} AS SELECT row_number() OVER () AS {ROW}, * FROM "
                    f"(SELECT {', '.join(['_h'] + flags)}, sum(_n) AS _n FROM {s} GROUP BY ALL) "
                    f"JOIN _raw{i} USING (_h)")
        counted, mapped_n = con.execute(f"SELECT (SELECT sum(_n) FROM {s}), (SELECT sum(_n) FROM {k})").fetchall()[0]
        if counted != mapped_n:  # cheap guard: every summarised row must find its raw key
            raise RuntimeError(f"internal error: {counted} rows summarised but {mapped_n} mapped in {src.path}")
        # The keys under the file's own column names, so the row-level mapping SQL applies to them unchanged.
        cols = [ROW] + [f"_key{n} AS {q(c)}" for n, c in enumerate(src.keys)]
        cols += [f"CASE WHEN _null{n} THEN NULL ELSE 0.0 END AS {q(c)}" for n, c in enumerate(src.numeric)]
        if roles.id and roles.id not in src.keys + src.numeric:
            cols.append(f"NULL AS {q(roles.id)}")  # ids play no part in patterns
        con.execute(f"CREATE OR REPLACE TEMP VIEW {k}_v AS SELECT {', '.join(cols)} FROM {k}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {k}_m AS SELECT k.*, m.* EXCLUDE ({ROW}) FROM {k} k "
                    f"JOIN ({select_sql(roles, f'{k}_v', src.path, src.text_cols)}) m ON k.{ROW} = m.{ROW}")
        mapped.append(f"{k}_m")
    union = " UNION ALL BY NAME ".join(f"(SELECT * FROM {m})" for m in mapped)
    # Labels number the distinct pattern keys in sorted order, so the big GROUP BY / ORDER BY runs on integers.
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_labels AS SELECT row_number() OVER (ORDER BY {labels}) "
                f"AS _label, * FROM (SELECT DISTINCT {labels} FROM ({union}) WHERE _excluded IS NULL)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_verdicts AS SELECT row_number() OVER (ORDER BY verdict) "
                f"AS _vlabel, * FROM (SELECT DISTINCT COALESCE(verdict, 'scored') AS verdict FROM ({union}) "
                f"WHERE _excluded IS NULL)")
    same = " AND ".join(f"m.{c} IS NOT DISTINCT FROM l.{c}" for c in label_cols)
    for i, m in enumerate(mapped):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_m{i} AS SELECT m.*, l._label, v._vlabel FROM {m} m "
                    f"LEFT JOIN {name}_labels l ON m._excluded IS NULL AND {same} "
                    f"LEFT JOIN {name}_verdicts v ON m._excluded IS NULL AND COALESCE(m.verdict, 'scored') = v.verdict")


@dataclass
class LogSet:
    """Checked logs, ready to aggregate. Create with :func:`open_logs`."""

    roles: Roles
    con: duckdb.DuckDBPyConnection
    files: list[Path]
    skipped: list[Path] = field(default_factory=list)
    has_verdict: bool = False
    _sources: list[_Source] = field(default_factory=list, repr=False)
    _summaries: dict[tuple, str] = field(default_factory=dict, repr=False)  # grids -> table-name prefix
    _accounting: Accounting | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> list[str]:
        return self.roles.feature_names

    @property
    def condition_columns(self) -> list[str]:
        """Every named part of the condition as a column (file-name groups included): what effects can use."""
        return condition_columns(self.roles)

    @property
    def condition_levels(self) -> list[str]:
        parts = self.roles.condition_parts
        return parts[:-1] if len(parts) > 1 else []

    def _summary(self, grids: dict[str, Grid]) -> str:
        """Prefix of the summary tables for these grids (built on first use: one scan per file)."""
        key = tuple(grids[m.key] for m in self.roles.measures)
        if key not in self._summaries:
            name = f"_sum{len(self._summaries)}"
            _summarise(self.con, self.roles, self._sources, grids, name)
            self._summaries[key] = name
        return self._summaries[key]

    def _mapped(self, name: str) -> str:
        return " UNION ALL BY NAME ".join(f"(SELECT * FROM {name}_m{i})" for i in range(len(self._sources)))

    def accounting(self) -> Accounting:
        if self._accounting is None:  # the data were checked and summarised when opened; count once
            acc = Accounting()
            name = self._summary({m.key: m.grid for m in self.roles.measures})
            for file, reason, n in self.con.execute(
                    f"SELECT {FILE}, _excluded, sum(_n) FROM ({self._mapped(name)}) "
                    f"GROUP BY ALL ORDER BY ALL").fetchall():
                n = int(n)
                acc.files[file] = acc.files.get(file, 0) + n
                acc.rows_read += n
                if reason is None:
                    acc.rows_used += n
                else:
                    acc.exclude(reason, n)
            self._accounting = acc
        return copy.deepcopy(self._accounting)

    def _key_columns(self) -> list[str]:
        return (self.condition_columns + ["condition", "prompt"] + self.feature_names)

    def rows(self) -> pd.DataFrame:
        """The row-level table: one row per used answer, with ``_file`` and ``_row`` to join back to the input;
        a score as a number, a binary or categorical measure as its level (None when empty)."""
        cols = [FILE, ROW] + self._key_columns() + self.roles.measure_keys + (["verdict"] if self.has_verdict else [])
        sel = ", ".join(q(c) if c != "verdict" else "COALESCE(verdict, 'scored') AS verdict" for c in cols)
        df = self.con.sql(f"SELECT {sel} FROM {ROWS} WHERE _excluded IS NULL ORDER BY {FILE}, {ROW}").df()
        for m in self.roles.measures:
            if m.has_levels:                      # index + 0.5 in the SQL (see normalise.level_value) -> the level
                labels = pd.Series(m.level_names, dtype=object)
                df[m.key] = labels.reindex(pd.Series(df[m.key]).sub(0.5).round()).to_numpy()
        return df

    def excluded_rows(self) -> pd.DataFrame:
        """File, row and reason of every excluded row."""
        return self.con.sql(f"SELECT {FILE}, {ROW}, _excluded AS reason FROM {ROWS} "
                            f"WHERE _excluded IS NOT NULL ORDER BY {FILE}, {ROW}").df()

    def patterns(self, grids: dict[str, Grid] | None = None) -> Patterns:
        """Exact sufficient statistics: counts of unique (condition, prompt, features, binned measures, verdict)."""
        grids = {m.key: m.grid for m in self.roles.measures} | (grids or {})
        name = self._summary(grids)
        parts = []
        for i, src in enumerate(self._sources):
            bins = []
            for j, m in enumerate(self.roles.measures):
                if m.column in src.text_cols:  # text scores are raw keys, so the mapped value is exact per key
                    bins.append(f"{bin_sql('m.' + q(m.key), grids[m.key])} AS _b{j}")
                else:
                    bins.append(f"{_clip_sql(f's._bin{j}', grids[m.key])} AS _b{j}")
            # Back from each summary row to its mapped key: same key hash, same empty numeric scores.
            same = ["s._h = m._h"] + [f"{e} = m._null{n}" for n, e in enumerate(src.empty_flags(self.roles, "s"))]
            parts.append(f"SELECT m._label, {', '.join(bins)}, m._vlabel, s._n FROM {name}_s{i} s "
                         f"JOIN {name}_m{i} m ON {' AND '.join(same)} WHERE m._excluded IS NULL")
        b = [f"_b{j}" for j in range(len(self.roles.measures))]
        order = ["_label"] + b + (["_vlabel"] if self.has_verdict else [])
        counts = self.con.execute(f"SELECT {', '.join(order)}, sum(_n)::BIGINT AS count "
                                  f"FROM ({' UNION ALL '.join(parts)}) GROUP BY ALL ORDER BY ALL").fetchnumpy()
        # Attach the label strings by position (labels are numbered 1.. in their sorted order).
        labels = self.con.sql(f"SELECT * EXCLUDE (_label) FROM {name}_labels ORDER BY _label").df()
        table = labels.iloc[counts["_label"] - 1].reset_index(drop=True)
        for j, key in enumerate(self.roles.measure_keys):
            table[key] = counts[f"_b{j}"].astype("int16")
        if self.has_verdict:
            verdicts = self.con.sql(f"SELECT verdict FROM {name}_verdicts ORDER BY _vlabel").df()["verdict"]
            table["verdict"] = verdicts.iloc[counts["_vlabel"] - 1].reset_index(drop=True)
        table["count"] = counts["count"].astype("int64")
        levels = None
        if self.has_verdict:
            levels = list(self.roles.verdict_levels or sorted(set(table["verdict"]) - {"scored"}))
            levels = ["scored"] + [v for v in levels if v != "scored"]
        return Patterns(table, grids, self.roles.measure_keys, self.feature_names, self.condition_levels,
                        levels, self.accounting(), self.condition_columns, dict(self.roles.behaviours))


@contextlib.contextmanager
def _data_errors(file) -> Iterator[None]:
    """A DuckDB error while reading a file's data (one the checks did not foresee) as a one-line DataError."""
    try:
        yield
    except duckdb.Error as e:
        lines = str(e).strip().splitlines()
        raise DataError(f"cannot read the file's data ({lines[0] if lines else type(e).__name__})",
                        file=str(file)) from None


def condition_columns(roles: Roles) -> list[str]:
    """The condition's named parts that become columns (all of them; a single part named ``condition`` is the
    condition itself)."""
    return [p for p in roles.condition_parts if p != "condition"]


def _range(con: duckdb.DuckDBPyConnection, roles: Roles, m, views: list[tuple[str, set[str]]]) -> tuple[float, float]:
    """The smallest and largest value of a measure over every file (as numbers; verdict words left out)."""
    from simstats.logs.normalise import measure_value

    lo, hi = math.inf, -math.inf
    for view, text_cols in views:
        v = measure_value(m.column, m.column in text_cols, roles.score_verdicts)
        a, b = con.execute(f"SELECT min({v}), max({v}) FROM {view}").fetchall()[0]
        if a is not None:
            lo, hi = min(lo, float(a)), max(hi, float(b))
    if not math.isfinite(lo):
        raise DataError(f"the continuous measure {m.key!r} has no values", column=m.column)
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)


def _resolve_levels(con: duckdb.DuckDBPyConnection, roles: Roles, views: list[tuple[str, set[str]]]) -> Roles:
    """Roles whose categorical measures without declared levels take the levels of the data (sorted), and whose
    continuous measures without a declared range take the data's (min to max)."""
    from simstats.logs.normalise import MISSING_TOKENS, in_list, lit, q

    todo = [m for m in roles.measures if (m.kind == "categorical" and m.levels is None)
            or (m.kind == "continuous" and m.lower is None)]
    if not todo:
        return roles
    measures = []
    for m in roles.measures:
        if m not in todo:
            measures.append(m)
            continue
        if m.kind == "continuous":
            lo, hi = _range(con, roles, m, views)
            measures.append(dataclasses.replace(m, lower=lo, upper=hi))
            continue
        seen: set[str] = set()
        for view, _ in views:
            t = f"NULLIF(trim(CAST({q(m.column)} AS VARCHAR)), '')"
            skip = [*MISSING_TOKENS, *[v.lower() for v in roles.score_verdicts]]
            rows = con.execute(f"SELECT DISTINCT {t} FROM {view} WHERE {t} IS NOT NULL AND NOT "
                               f"{in_list(f'lower({t})', skip)}").fetchall()
            seen |= {r[0] for r in rows}
        if len(seen) < 2:
            raise DataError(f"the categorical measure {m.key!r} has {len(seen)} distinct value(s) "
                            f"({', '.join(map(lit, sorted(seen))) or 'none'}); it needs two or more levels",
                            column=m.column)
        measures.append(dataclasses.replace(m, levels=tuple(sorted(seen))))
    return roles.replace(measures=measures)


def _mapping_columns(roles: Roles, columns: list[str], text_cols: set[str]) -> tuple[list[str], list[str]]:
    """The raw columns the role mapping reads: (key columns, numeric score columns)."""
    keys = [] if roles.condition_from_filename else list(roles.condition)
    keys += [roles.prompt] + [f for f in roles.features if f not in roles.regex_features]
    keys += [roles.verdict] if roles.verdict else []
    keys += [m.column for m in roles.measures if m.column in text_cols]
    keys = [c for c in dict.fromkeys(keys) if c in columns]
    numeric = [c for c in dict.fromkeys(m.column for m in roles.measures) if c not in text_cols and c not in keys]
    return keys, numeric


def open_logs(paths: list[str | Path] | str | Path, roles: Roles) -> LogSet:
    """Find, read and check logs; raise :class:`~simstats.errors.DataError` on the first bad input.

    >>> from simstats.datasets import clarifying_em_path, clarifying_em_roles
    >>> logs = open_logs(clarifying_em_path(), clarifying_em_roles())
    >>> acc = logs.accounting(); acc.rows_read == acc.rows_used + sum(acc.excluded.values())
    True
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found = discover(list(paths))
    # DuckDB uses every core; insertion order is never relied on (every result is ORDER BY'd), and dropping it
    # lets the summary scan run fully in parallel. Memory is bounded and spills go to a private temporary folder.
    con = connect()
    loaded = []
    for i, path in enumerate(found.files):
        view = f"f{i}"
        with _data_errors(path):
            columns = load_relation(con, path, view)
            check_columns(roles, columns, path)
            table = con.table(view)
            types = dict(zip(table.columns, table.types))
            loaded.append((view, {c for c, t in types.items() if str(t) == "VARCHAR"}, columns))
    with _data_errors(", ".join(map(str, found.files))):
        roles = _resolve_levels(con, roles, [(v, t) for v, t, _ in loaded])
    selects, sources = [], []
    for i, (path, (view, text_cols, columns)) in enumerate(zip(found.files, loaded)):
        with _data_errors(path):
            check_values(con, roles, view, path, text_cols)
            selects.append(select_sql(roles, view, path, text_cols))
            sources.append(_Source(path, view, text_cols, *_mapping_columns(roles, columns, text_cols)))
            _hash_keys(con, sources[-1], f"_raw{i}")
    # The row-level view serves rows(), excluded_rows() and the id check; patterns use the summaries.
    with _data_errors(", ".join(map(str, found.files))):
        con.sql(" UNION ALL BY NAME ".join(f"({s})" for s in selects)).create_view(ROWS)
        check_unique_ids(con, roles, ROWS)
        logs = LogSet(roles, con, found.files, found.skipped, _sources=sources)
        name = logs._summary({m.key: m.grid for m in roles.measures})
    logs.has_verdict = bool(roles.verdict) or bool(
        con.execute(f"SELECT count(*) FROM ({logs._mapped(name)}) WHERE verdict IS NOT NULL").fetchall()[0][0])
    acc = logs.accounting()
    if acc.rows_used == 0:
        reasons = ", ".join(f"{k}: {v}" for k, v in acc.excluded.items())
        raise DataError(f"no usable rows ({acc.rows_read} read; excluded: {reasons})",
                        file=", ".join(map(str, paths)))
    return logs
