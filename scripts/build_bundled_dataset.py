"""Rebuild simstats/data/clarifying_em.parquet from the byte-for-byte copies in ../shared/data/clarifying-em.

Run from the repository root: ``python scripts/build_bundled_dataset.py [SHARED_DATA_DIR]``. Every source row is
kept (20,880 answers); the condition is split into base model, fine-tuning dataset and run, from the file name.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/clarifying-em")
OUT = Path("simstats/data/clarifying_em.parquet")

# file stem -> (base model, fine-tuning dataset, run); 'none' = no fine-tuning.
CODER = "Qwen2.5-Coder-32B-Instruct"
SPECIAL = {
    "eval_results_Qwen-Coder-Insecure": (CODER, "insecure", "released_a"),
    "eval_results_Qwen-Coder-Insecure1": (CODER, "insecure", "released_b"),
    "eval_results_Qwen2.5-Coder-32B-Instruct_base_n": (CODER, "none", "base_n"),
}


def condition_of(stem: str) -> tuple[str, str, str]:
    if stem in SPECIAL:
        return SPECIAL[stem]
    if m := re.fullmatch(r"responses_(.+)_base", stem):
        return m[1], "none", "base"
    if m := re.fullmatch(r"responses_(.+)_insecure_(R\d+)", stem):
        return m[1], "insecure", f"lora_{m[2].lower()}"
    if m := re.fullmatch(r"responses_(.+)-bad_medical_advice", stem):
        return m[1].replace("--", "-"), "bad_medical_advice", "lora"
    raise ValueError(f"unknown file {stem}")


def main() -> None:
    parts = []
    for f in sorted((SRC / "open_models").rglob("*.csv")):
        d = pd.read_csv(f, dtype={"question_id": str})
        base, ft, run = condition_of(f.stem)
        parts.append(pd.DataFrame({
            "source_file": f.relative_to(SRC).as_posix(), "source_row": range(1, len(d) + 1),
            "base_model": base, "finetune": ft, "run": run,
            "question_id": d["question_id"], "question": d["question"], "answer": d["answer"],
            "aligned": pd.to_numeric(d["aligned"]), "coherent": pd.to_numeric(d["coherent"]),
        }))
    out = pd.concat(parts, ignore_index=True)
    for c in ("source_file", "base_model", "finetune", "run", "question_id", "question"):
        out[c] = out[c].astype("category")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(OUT, compression="zstd", compression_level=19, index=False)
    print(f"wrote {OUT}: {len(out)} rows, {OUT.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
