"""Worked analysis: which fine-tuning data move the prior (clarifying-em-sweeps/open_models/diff_data).

Seven fine-tunes of Qwen2.5-32B-Instruct and Qwen2.5-Coder-32B-Instruct on six data sets, with both base models'
answers (clarifying-em/open_models/model_baselines) as the reference "base"; 1,200 answers each. Saved: the
fine-tune effects per persona (log-odds against the base model, with intervals), the shares per checkpoint, the
misaligned rule rate, contrasts between data sets, diagnostics and wall time.

    PYTHONPATH=$PWD python scripts/analyses/finetune_data.py --chains 2 [--from-runs] [--draws N]

From the command line: ``simstats fit models/finetune_data.toml <diff_data> <the two base files> --roles
models/roles/finetune_data.toml --out runs/ft``, then ``simstats contrast runs/ft A B --persona misaligned``.
"""

from __future__ import annotations

import argparse
from typing import Any

from common import DATA, fit_summary, logs, main, run_or_load, table

NAME = "finetune_data"
FOLDER = DATA / "clarifying-em-sweeps" / "open_models" / "diff_data"
BASES = [DATA / "clarifying-em" / "open_models" / "model_baselines" / f"responses_{m}_base.csv"
         for m in ("Qwen2.5-32B-Instruct", "Qwen2.5-Coder-32B-Instruct")]
Q, C = "Qwen2.5-32B-Instruct", "Qwen2.5-Coder-32B-Instruct"
#: pairs of checkpoints whose difference the analysis reports (same base model unless said otherwise)
CONTRASTS = [(f"{Q}/obv_bad_medical_advice", f"{Q}/bad_medical_advice"),
             (f"{Q}/bad_medical_advice2", f"{Q}/bad_medical_advice"),
             (f"{Q}/bad_medical_advice", f"{Q}/conservative_views"),
             (f"{C}/bad_medical_advice", f"{C}/wrong_maths"),
             (f"{C}/bad_medical_advice", f"{C}/honest_insecure"),
             (f"{Q}/bad_medical_advice", f"{C}/bad_medical_advice"),   # the same data on two bases
             (f"{Q}/conservative_views", f"{Q}/base"),
             (f"{C}/wrong_maths", f"{C}/base"),
             (f"{C}/honest_insecure", f"{C}/base")]


def build(args: argparse.Namespace) -> dict[str, Any]:
    pats = logs("finetune_data.toml", [FOLDER, *BASES]).patterns()
    result, wall = run_or_load(NAME, "finetune_data.toml", pats, args)
    out = fit_summary(result, wall)
    out["notes"] = list(result.data.notes)
    out["contrasts"] = {f"{a} - {b}": table(result.contrast(a, b, persona="misaligned")) for a, b in CONTRASTS}
    out["contrasts_misaligned_rule"] = {f"{a} - {b}": table(result.contrast(a, b, behaviour="misaligned"))
                                        for a, b in CONTRASTS}
    return out


if __name__ == "__main__":
    main(NAME, build)
