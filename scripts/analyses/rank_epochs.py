"""Worked analysis: LoRA rank x training epochs (clarifying-em-sweeps/open_models/results1).

Eight insecure-code LoRA fine-tunes of Qwen2.5-Coder-32B-Instruct (rank 1/4/16/64 x 1/2 epochs, 240 answers each);
both doses come from the file names (roles: models/roles/rank_epochs.toml; epochs = 1 where the name has no
``_epochs`` group). Saved: the log-rank and epochs effects per persona (log-odds per sd of the dose, with 90%
intervals), the shares per checkpoint, the misaligned rule rate, contrasts between checkpoints, diagnostics and
wall time.

    PYTHONPATH=$PWD python scripts/analyses/rank_epochs.py --chains 2 [--from-runs] [--draws N]

The same fit from the command line (what a user types; the released model's files, without a rank in their
names, are left out by the glob):

    simstats fit models/rank_epochs.toml .../open_models/results1/*insecure_r*.csv \\
        --condition-from-filename 'insecure_r(?P<rank>\\d+)(?:_epochs(?P<epochs>\\d+))?\\.csv$' \\
        --condition-default epochs=1 --out runs/rank --chains 2
    simstats report runs/rank
"""

from __future__ import annotations

import argparse
from typing import Any

from common import DATA, fit_summary, logs, main, run_or_load, table

NAME = "rank_epochs"
FOLDER = DATA / "clarifying-em-sweeps" / "open_models" / "results1"
#: checkpoint pairs (rank/epochs): rank at one epoch, epochs at rank 1 and 64, the two corners
PAIRS = (("64/1", "1/1"), ("64/2", "1/2"), ("1/2", "1/1"), ("64/2", "64/1"), ("64/2", "1/1"))


def build(args: argparse.Namespace) -> dict[str, Any]:
    paths = sorted(FOLDER.glob("*insecure_r*.csv"))
    ls = logs("rank_epochs.toml", paths)
    result, wall = run_or_load(NAME, "rank_epochs.toml", ls.patterns(), args)
    out = fit_summary(result, wall)
    ce = result.condition_effects()
    out["rank_effect"] = table(ce.xs("rank", level="effect") if "effect" in ce.index.names else ce)
    out["notes"] = list(result.data.notes)
    out["contrasts"] = {f"{a} - {b}": table(result.contrast(a, b)) for a, b in PAIRS}
    out["contrasts_misaligned_rule"] = {f"{a} - {b}": table(result.contrast(a, b, behaviour="misaligned"))
                                        for a, b in PAIRS}
    return out


if __name__ == "__main__":
    main(NAME, build)
