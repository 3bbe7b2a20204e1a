"""Benchmark: bounded resources on a 10^8-row log -- time, rows/s and peak memory of ``open_logs`` + patterns.

    .venv/bin/python bench/aggregate_big.py [--rows 100000000] [--memory-limit 8GB] [--folder DIR] [--keep]

Writes the synthetic judged log of ``aggregate_speed.py`` (same generator, same realistic score distribution) in
Parquet row groups of 10^6 rows to a temporary folder (after checking there is room on the disk), then aggregates
it in a fresh subprocess through :func:`simstats.logs.open_logs` with DuckDB's memory capped by
``SIMSTATS_MEMORY_LIMIT`` (spilling to its private temporary folder). Reports the time, rows/s, the process's peak
RSS (Linux ``VmHWM``: it counts DuckDB's native allocations), and checks that the accounting adds up to every row
and that no spill folder is left behind. The generated file is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aggregate_speed import generate, peak_rss_kib, roles  # noqa: E402  (one generator for both benchmarks)

BYTES_PER_ROW = 25  # measured: ~2.3 GB of snappy Parquet per 10^8 rows; the check asks for twice that


def _child(path: str, out: str) -> None:
    from simstats.logs import open_logs

    base = peak_rss_kib()
    t0 = time.perf_counter()
    logs = open_logs([path], roles(with_id=False))
    patterns = logs.patterns()
    acc = logs.accounting()
    elapsed = time.perf_counter() - t0
    setting = logs.con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()
    logs.con.close()
    result = {"elapsed": elapsed, "patterns": len(patterns.table), "rows_read": acc.rows_read,
              "rows_used": acc.rows_used, "excluded": acc.excluded, "base_kib": base, "peak_kib": peak_rss_kib(),
              "memory_limit": setting[0][0], "spill_folder": setting[0][1], "pid": os.getpid()}
    Path(out).write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--memory-limit", default="8GB", help="SIMSTATS_MEMORY_LIMIT for the aggregating process")
    p.add_argument("--folder", type=Path, help="where to write the log (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the generated log (reused by the next run)")
    p.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._child:
        _child(*a._child)
        return 0

    folder = a.folder or Path(tempfile.mkdtemp(prefix="simstats-bigbench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"synthetic_{a.rows}.parquet"
    try:
        if not path.exists():
            free = shutil.disk_usage(folder).free
            need = 2 * BYTES_PER_ROW * a.rows
            if free < need:
                print(f"error: {folder} has {free / 2**30:.1f} GiB free; {need / 2**30:.1f} GiB needed", file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            generate(path, a.rows)
            print(f"wrote {a.rows:,} rows ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
        out = folder / "result.json"
        env = dict(os.environ, SIMSTATS_MEMORY_LIMIT=a.memory_limit)
        subprocess.run([sys.executable, __file__, "--_child", str(path), str(out)], check=True, env=env)
        r = json.loads(out.read_text())
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True) if not a.folder else path.unlink(missing_ok=True)
    assert r["rows_read"] == a.rows, r
    assert r["rows_used"] + sum(r["excluded"].values()) == a.rows, r
    left = glob.glob(os.path.join(tempfile.gettempdir(), f"simstats-duckdb-{r['pid']}-*"))
    print(f"\n{a.rows:,} rows -> {r['patterns']:,} patterns ({r['rows_used']:,} used, excluded {r['excluded']}); "
          f"{os.cpu_count()} CPUs, DuckDB memory_limit {r['memory_limit']}")
    print(f"time {r['elapsed']:.1f} s, {a.rows / r['elapsed'] / 1e6:.2f} M rows/s, peak RSS "
          f"{r['peak_kib'] / 2**20:.2f} GiB ({r['base_kib'] / 2**20:.2f} GiB after imports); "
          f"spill folder left behind: {left or 'none'}")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
