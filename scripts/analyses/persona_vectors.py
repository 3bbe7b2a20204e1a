"""Worked analysis: persona vectors (Chen et al. 2025), the evil and hallucinating traits of Qwen2.5-7B-Instruct.

One checkpoint, 20 questions, each under 5 trait-eliciting (pos) and 5 trait-suppressing (neg) system prompts. The
system prompt is prompt evidence (a prompt feature), not a condition. Per trait: the persona shares under pos and
neg, the evidence in nats the eliciting prompt carries toward each persona (its log-odds coefficient against the
assistant), the kept-answer rate (trait > 50 and coherence > 50), the diagnostics and the wall time.

    PYTHONPATH=$PWD python scripts/analyses/persona_vectors.py          # full fits (spec defaults), ~minutes
    PYTHONPATH=$PWD python scripts/analyses/persona_vectors.py --from-runs
"""

from __future__ import annotations

import argparse
from typing import Any

from common import DATA, fit_summary, logs, main, run_or_load, table

NAME = "persona_vectors"
TRAITS = ("evil", "hallucinating")
FOLDER = DATA / "persona-vectors" / "eval_persona_extract" / "Qwen2.5-7B-Instruct"


def trait_paths(trait: str) -> list:
    return [FOLDER / f"{trait}_pos_instruct.csv", FOLDER / f"{trait}_neg_instruct.csv"]


def analyse(trait: str, args: argparse.Namespace) -> dict[str, Any]:
    ls = logs(f"persona_vectors_{trait}.toml", trait_paths(trait))
    result, wall = run_or_load(f"{NAME}_{trait}", f"persona_vectors_{trait}.toml", ls.patterns(), args)
    out = fit_summary(result, wall)
    out["shares_by_system"] = table(result.feature_shares("system"))
    rows = ls.rows()
    out["empirical_kept_by_system"] = (((rows[trait] > 50) & (rows["coherence"] > 50))
                                       .groupby(rows["system"]).mean().round(4).to_dict())
    if hasattr(result, "contrast"):                    # issue 15: FitResult.contrast (lands on main)
        cond = result.conditions[0]
        out["contrast_pos_vs_neg"] = table(result.contrast("pos", "neg", feature="system"))
        out["contrast_pos_vs_neg_behaviour"] = table(result.contrast("pos", "neg", feature="system",
                                                                     behaviour=trait))
        out["condition"] = cond
    return out


def build(args: argparse.Namespace) -> dict[str, Any]:
    return {"traits": {t: analyse(t, args) for t in TRAITS}}


if __name__ == "__main__":
    main(NAME, build)
