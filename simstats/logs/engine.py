"""The DuckDB connection the logs layer aggregates in: bounded memory, a private spill folder, no progress bar.

DuckDB's defaults suit a database server, not a library call: it may take 80% of the machine's memory, spills to
``.tmp`` in the *user's working directory* (left behind if the process is killed), and draws a progress bar on
stdout for long queries. Here memory is capped (half the machine by default, ``SIMSTATS_MEMORY_LIMIT`` to change
it, e.g. ``8GB``), spilling goes to a fresh folder under the system temporary directory that is removed when the
connection is closed or collected, and nothing is printed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import weakref

import duckdb

from simstats.errors import DataError

MEMORY_ENV = "SIMSTATS_MEMORY_LIMIT"


def default_memory_limit() -> str:
    """Half the machine's physical memory (DuckDB's own default is 80%, too much beside the sampler)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): DuckDB's default
        return ""
    return f"{max(total // 2 // 2**20, 256)}MB"


def connect() -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with bounded memory and a spill folder of its own (see the module docstring)."""
    # Not created here: DuckDB creates it on the first spill and removes it on close; the finaliser covers the rest.
    spill = os.path.join(tempfile.gettempdir(), f"simstats-duckdb-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    limit = os.environ.get(MEMORY_ENV, "").strip() or default_memory_limit()
    config = {"preserve_insertion_order": False, "temp_directory": spill}
    if limit:
        config["memory_limit"] = limit
    try:
        con = duckdb.connect(config=config)
    except duckdb.Error as e:  # only the user's SIMSTATS_MEMORY_LIMIT can make this fail
        raise DataError(f"{MEMORY_ENV}={limit!r} is not a memory size DuckDB accepts (e.g. 8GB, 500MB): "
                        f"{str(e).strip().splitlines()[0]}") from None
    con.execute("SET enable_progress_bar = false")  # a connection-local setting, not accepted by connect()
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    return con
