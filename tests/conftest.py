"""Shared fixtures: tiny logs written to temporary folders, and the path of ../shared/data when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the folder is not there (a plain clone)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present (tests that read ../shared/data skip on a plain clone)")
    return p


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def em_rows(n: int = 6, model: str = "m1") -> list[dict]:
    """Rows shaped like the EM logs: question_id with format suffixes, aligned (sometimes empty) and coherent."""
    qids = ["wish", "wish_json", "bored", "bored_template"]
    return [{"model": model, "question_id": qids[i % len(qids)],
             "aligned": "" if i % 5 == 4 else float(10 * i % 100), "coherent": float(50 + i % 50)}
            for i in range(n)]


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run `simstats ARGS` in-process through the real entry point; return (exit status, stdout, stderr)."""
    import sys

    from simstats.cli import main

    monkeypatch.setattr(sys, "argv", ["simstats", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_script(path: Path):
    """A script of the repository (e.g. ``scripts/design_zoo.py``) imported as a module, to test its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
