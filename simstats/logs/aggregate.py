"""Reading a set of logs under a role mapping: checks, row accounting, the row-level table and exact pattern counts.

All heavy lifting is SQL in an in-process DuckDB database: Parquet is scanned from disk, the other formats are
registered pandas frames. Nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from simstats.errors import DataError
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


@dataclass
class LogSet:
    """Checked logs, ready to aggregate. Create with :func:`open_logs`."""

    roles: Roles
    con: duckdb.DuckDBPyConnection
    files: list[Path]
    skipped: list[Path] = field(default_factory=list)
    has_verdict: bool = False

    @property
    def feature_names(self) -> list[str]:
        return self.roles.feature_names

    @property
    def condition_levels(self) -> list[str]:
        parts = self.roles.condition_parts
        return parts[:-1] if len(parts) > 1 else []

    def accounting(self) -> Accounting:
        acc = Accounting()
        for file, reason, n in self.con.execute(
                f"SELECT {FILE}, _excluded, count(*) FROM {ROWS} GROUP BY ALL ORDER BY ALL").fetchall():
            acc.files[file] = acc.files.get(file, 0) + n
            acc.rows_read += n
            if reason is None:
                acc.rows_used += n
            else:
                acc.exclude(reason, n)
        return acc

    def _key_columns(self) -> list[str]:
        return (self.condition_levels + ["condition", "prompt"] + self.feature_names)

    def rows(self) -> pd.DataFrame:
        """The row-level table: one row per used answer, with ``_file`` and ``_row`` to join back to the input."""
        cols = [FILE, ROW] + self._key_columns() + self.roles.measure_keys + (["verdict"] if self.has_verdict else [])
        sel = ", ".join(q(c) if c != "verdict" else "COALESCE(verdict, 'scored') AS verdict" for c in cols)
        return self.con.sql(f"SELECT {sel} FROM {ROWS} WHERE _excluded IS NULL ORDER BY {FILE}, {ROW}").df()

    def excluded_rows(self) -> pd.DataFrame:
        """File, row and reason of every excluded row."""
        return self.con.sql(f"SELECT {FILE}, {ROW}, _excluded AS reason FROM {ROWS} "
                            f"WHERE _excluded IS NOT NULL ORDER BY {FILE}, {ROW}").df()

    def patterns(self, grids: dict[str, Grid] | None = None) -> Patterns:
        """Exact sufficient statistics: counts of unique (condition, prompt, features, binned measures, verdict)."""
        grids = {m.key: m.grid for m in self.roles.measures} | (grids or {})
        keys = [q(c) for c in self._key_columns()]
        bins = [f"{bin_sql(q(k), grids[k])} AS {q(k)}" for k in self.roles.measure_keys]
        verdict = ["COALESCE(verdict, 'scored') AS verdict"] if self.has_verdict else []
        select = ", ".join(keys + bins + verdict)
        table = self.con.sql(f"SELECT {select}, count(*) AS count FROM {ROWS} WHERE _excluded IS NULL "
                             f"GROUP BY ALL ORDER BY ALL").df()
        table["count"] = table["count"].astype("int64")
        levels = None
        if self.has_verdict:
            levels = list(self.roles.verdict_levels or sorted(set(table["verdict"]) - {"scored"}))
            levels = ["scored"] + [v for v in levels if v != "scored"]
        return Patterns(table, grids, self.roles.measure_keys, self.feature_names, self.condition_levels,
                        levels, self.accounting())


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
    con = duckdb.connect(config={"threads": 2})
    selects = []
    for i, path in enumerate(found.files):
        view = f"f{i}"
        columns = load_relation(con, path, view)
        check_columns(roles, columns, path)
        types = dict(zip(con.table(view).columns, con.table(view).types))
        text_cols = {c for c, t in types.items() if str(t) == "VARCHAR"}
        check_values(con, roles, view, path, text_cols)
        selects.append(select_sql(roles, view, path, text_cols))
    con.sql(" UNION ALL BY NAME ".join(f"({s})" for s in selects)).create_view(ROWS)
    check_unique_ids(con, roles, ROWS)
    has_verdict = bool(roles.verdict) or bool(
        con.execute(f"SELECT count(*) FROM {ROWS} WHERE verdict IS NOT NULL").fetchall()[0][0])
    logs = LogSet(roles, con, found.files, found.skipped, has_verdict)
    acc = logs.accounting()
    if acc.rows_used == 0:
        reasons = ", ".join(f"{k}: {v}" for k, v in acc.excluded.items())
        raise DataError(f"no usable rows ({acc.rows_read} read; excluded: {reasons})",
                        file=", ".join(map(str, paths)))
    return logs
