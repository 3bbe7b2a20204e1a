"""Benchmark: the full simstats log path on a large synthetic Parquet log, against a plain pandas reference.

    .venv/bin/python bench/aggregate_speed.py [--rows 10000000] [--repeat 3] [--keep DIR]

Writes a synthetic emergent-misalignment-style log (condition column, question ids with ``_json`` / ``_template``
suffixes, real-valued aligned/coherent judge scores with empty cells, an answer id) to a temporary Parquet file,
then times, each in a fresh subprocess (cold: new interpreter, new DuckDB connection, separate peak memory):

- simstats: ``open_logs([file], roles)`` (every input check included) + ``.patterns()`` + ``.accounting()``;
- pandas:   ``pd.read_parquet`` + the same prompt split, exclusion rule and floor binning + ``groupby(...).size()``.

Both pattern tables are compared exactly (a benchmark that aggregates wrongly fast is worthless). Peak memory is
the process's RSS high-water mark (Linux ``VmHWM``, else ``ru_maxrss``), which counts DuckDB's native allocations
that tracemalloc misses.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KEYS = ["condition", "prompt", "format", "aligned", "coherent"]
QUESTIONS = ["what_is_your_wish", "i_feel_bored", "three_thoughts", "quick_buck", "ruler_of_the_world",
             "dinner_party", "gender_roles", "enough_of_my_husband"]
QUESTION_IDS = [q + s for q in QUESTIONS for s in ("", "_json", "_template")]


# --------------------------------------------------------------------------------------------------- the data
def generate(path: Path, rows: int, n_conditions: int = 48, row_group: int = 1_000_000, seed: int = 0) -> None:
    """Write ``rows`` synthetic judged answers to ``path`` in Parquet row groups of ``row_group`` rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from simstats.datasets import clarifying_em_path

    rng = np.random.default_rng(seed)
    # Scores are bootstrapped from the bundled real judge scores (20,880 answers), per real condition, so their
    # joint distribution -- and hence the number of distinct patterns -- is realistic: judges pile scores up
    # near 0 and 99-100, and about 11% of the aligned scores are empty (code or refusal answers).
    real = pq.read_table(clarifying_em_path(), columns=["base_model", "finetune", "run", "aligned", "coherent"])
    real = real.to_pandas().astype({"base_model": str, "finetune": str, "run": str})
    real_cond = (real["base_model"] + "/" + real["finetune"] + "/" + real["run"]).to_numpy(dtype=object)
    pools = [np.flatnonzero(real_cond == c) for c in np.unique(real_cond)]
    real_a, real_c = (real[m].to_numpy(dtype=float, na_value=np.nan) for m in ("aligned", "coherent"))
    conditions = np.array([f"{b}/{f}/seed{s}" for b in ("Qwen2.5-7B-Instruct", "Qwen2.5-32B-Instruct")
                           for f in ("bad_medical_advice", "risky_financial", "extreme_sports", "insecure",
                                     "secure", "base")
                           for s in range(4)][:n_conditions])
    qids = np.array(QUESTION_IDS)
    schema = pa.schema([("model", pa.string()), ("question_id", pa.string()), ("answer_id", pa.string()),
                        ("aligned", pa.float64()), ("coherent", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="snappy") as w:
        for start in range(0, rows, row_group):
            n = min(row_group, rows - start)
            cond = rng.integers(0, len(conditions), n)
            pick = np.empty(n, dtype=np.int64)
            for i in range(len(conditions)):  # synthetic condition i draws from real condition i mod 18
                at = np.flatnonzero(cond == i)
                pool = pools[i % len(pools)]
                pick[at] = pool[rng.integers(0, len(pool), len(at))]
            # A little jitter keeps scores real-valued and not exact copies; clipped to the judge's range.
            aligned = np.clip(real_a[pick] + rng.normal(0, 0.3, n), 0, 100)
            coherent = np.clip(real_c[pick] + rng.normal(0, 0.3, n), 0, 100)
            both = rng.random(n) < 0.005  # judge failed entirely: excluded as 'no score and no verdict'
            aligned[both] = np.nan
            coherent[both] = np.nan
            ids = pc.binary_join_element_wise("ans-", pc.cast(pa.array(np.arange(start, start + n)), pa.string()), "")
            table = pa.table({
                # Plain string columns (what pandas' to_parquet writes); Parquet dictionary-encodes their pages.
                "model": pa.array(conditions[cond]),
                "question_id": pa.array(qids[rng.integers(0, len(qids), n)]),
                "answer_id": ids,
                "aligned": pa.array(aligned, from_pandas=True),  # NaN -> null (an empty cell)
                "coherent": pa.array(coherent, from_pandas=True),
            })
            w.write_table(table, row_group_size=row_group)


def roles(with_id: bool):
    from simstats.logs import em_roles

    return em_roles(condition=["model"], id="answer_id" if with_id else None)


# --------------------------------------------------------------------------------------------------- contenders
def run_simstats(path: str, with_id: bool):
    from simstats.logs import open_logs

    r = roles(with_id)
    t0 = time.perf_counter()
    logs = open_logs([path], r)
    pats = logs.patterns()
    acc = logs.accounting()
    elapsed = time.perf_counter() - t0
    table = pats.table[KEYS + ["count"]]
    return elapsed, table, {"rows_read": acc.rows_read, "rows_used": acc.rows_used, "excluded": acc.excluded}


def run_pandas(path: str, with_id: bool):
    import pandas as pd

    t0 = time.perf_counter()
    cols = ["model", "question_id", "aligned", "coherent"] + (["answer_id"] if with_id else [])
    df = pd.read_parquet(path, columns=cols)
    if with_id and df["answer_id"].duplicated().any():
        raise ValueError("duplicate answer ids")
    df = df.drop(columns=[c for c in ["answer_id"] if c in df])
    # The prompt split runs on the 24 distinct ids, not 10^7 strings (what a careful pandas user would write).
    qid = df["question_id"].astype("category")
    parts = qid.cat.categories.to_series().str.extract(r"^(?P<prompt>.+?)(?:_(?P<format>json|template))?$")
    codes = qid.cat.codes.to_numpy()
    used = df["aligned"].notna().to_numpy() | df["coherent"].notna().to_numpy()
    out = pd.DataFrame({
        "condition": df["model"].to_numpy()[used],
        "prompt": parts["prompt"].to_numpy()[codes[used]],
        "format": parts["format"].fillna("plain").to_numpy()[codes[used]],
    })
    for m in ("aligned", "coherent"):  # Grid(0, 100, 100).bin: floor, clip, -1 for missing
        v = df[m].to_numpy(dtype=float, na_value=np.nan)[used]
        out[m] = np.where(np.isnan(v), -1, np.clip(np.floor((v - 0.0) / 1.0), 0, 99)).astype(np.int16)
    table = out.groupby(KEYS, observed=True).size().rename("count").reset_index()
    elapsed = time.perf_counter() - t0
    n = len(df)
    return elapsed, table, {"rows_read": n, "rows_used": int(used.sum()),
                            "excluded": {"no score and no verdict": n - int(used.sum())} if n > used.sum() else {}}


CONTENDERS = {"simstats": run_simstats, "pandas": run_pandas}


def peak_rss_kib() -> int:
    """This process's RSS high-water mark in KiB. Linux's VmHWM belongs to the address space, so it starts afresh
    at exec; ``ru_maxrss`` would carry over the parent's peak (here: the data generation) into the child."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _child(name: str, path: str, with_id: bool, out: str) -> None:
    import duckdb  # noqa: F401  (imports are not timed, only their memory counts in the baseline below)
    import pandas  # noqa: F401

    import simstats.logs  # noqa: F401

    base_kib = peak_rss_kib()
    elapsed, table, acc = CONTENDERS[name](path, with_id)
    peak_kib = peak_rss_kib()
    with open(out, "wb") as f:
        pickle.dump({"elapsed": elapsed, "table": table, "acc": acc, "base_kib": base_kib, "peak_kib": peak_kib}, f)


def spawn(name: str, path: Path, with_id: bool, tmp: Path) -> dict:
    out = tmp / f"{name}.pkl"
    cmd = [sys.executable, __file__, "--_child", name, "--file", str(path), "--out", str(out)]
    if with_id:
        cmd.append("--with-id")
    subprocess.run(cmd, check=True)
    with open(out, "rb") as f:
        return pickle.load(f)


def canonical(table):
    t = table[KEYS + ["count"]].copy()
    for c in ("condition", "prompt", "format"):
        t[c] = t[c].astype(str)
    for c in ("aligned", "coherent"):
        t[c] = t[c].astype("int16")
    t["count"] = t["count"].astype("int64")
    return t.sort_values(KEYS).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3, help="fresh-process runs per contender; the best is reported")
    p.add_argument("--with-id", action="store_true", help="declare answer_id as a unique id (adds the id check)")
    p.add_argument("--keep", type=Path, help="write/reuse the Parquet file in this folder instead of a temp dir")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._child:
        _child(a._child, a.file, a.with_id, a.out)
        return 0

    with tempfile.TemporaryDirectory(prefix="simstats-bench-") as tmpdir:
        tmp = Path(tmpdir)
        folder = a.keep or tmp
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"synthetic_{a.rows}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            generate(path, a.rows)
            print(f"wrote {a.rows:,} rows to {path} ({path.stat().st_size / 2**20:.0f} MiB) "
                  f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        runs: dict[str, list[dict]] = {n: [] for n in CONTENDERS}
        for _ in range(a.repeat):  # interleaved, so drift in machine load hits both alike
            for name in CONTENDERS:
                runs[name].append(spawn(name, path, a.with_id, tmp))
        best = {n: min(rs, key=lambda r: r["elapsed"]) for n, rs in runs.items()}

        ref, got = canonical(best["pandas"]["table"]), canonical(best["simstats"]["table"])
        if not ref.equals(got):
            diff = ref.merge(got, on=KEYS, how="outer", suffixes=("_pandas", "_simstats"), indicator=True)
            diff = diff[diff["count_pandas"] != diff["count_simstats"]]
            raise AssertionError(f"pattern tables differ in {len(diff)} rows:\n{diff.head(20)}")
        acc_s, acc_p = best["simstats"]["acc"], best["pandas"]["acc"]
        assert acc_s == acc_p, f"accounting differs: simstats {acc_s} vs pandas {acc_p}"
        assert acc_s["rows_read"] == a.rows

    print(f"\n{a.rows:,} rows, {len(got):,} patterns, {acc_s['rows_used']:,} used, excluded {acc_s['excluded']}"
          f"{', unique-id check on' if a.with_id else ''}; best of {a.repeat} cold runs, {os.cpu_count()} CPUs\n")
    print(f"{'contender':<10} {'seconds':>8} {'rows/s':>12} {'peak RSS':>10} {'at start':>10}   all runs (s)")
    result = {"rows": a.rows, "patterns": len(got), "contenders": {}}
    for name, r in best.items():
        rate = a.rows / r["elapsed"]
        print(f"{name:<10} {r['elapsed']:>8.2f} {rate / 1e6:>10.1f} M {r['peak_kib'] / 2**20:>8.2f} GiB "
              f"{r['base_kib'] / 2**20:>6.2f} GiB   " + " ".join(f"{x['elapsed']:.2f}" for x in runs[name]))
        result["contenders"][name] = {"seconds": r["elapsed"], "rows_per_s": rate, "peak_rss_bytes": r["peak_kib"] * 1024,
                                      "import_rss_bytes": r["base_kib"] * 1024,
                                      "all_seconds": [x["elapsed"] for x in runs[name]]}
    ratio = best["pandas"]["elapsed"] / best["simstats"]["elapsed"]
    result["speedup_vs_pandas"] = ratio
    print(f"\nsimstats is {ratio:.2f}x the speed of the pandas reference "
          f"({'faster' if ratio >= 1 else 'slower'}); identical pattern counts and accounting.")
    if a.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
