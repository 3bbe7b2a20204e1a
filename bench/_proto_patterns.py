# Prototype only: builds simstats Patterns from the shared clarifying-em CSVs with pandas
import glob
import re

import pandas as pd

from simstats.logs.grid import Grid
from simstats.logs.patterns import Accounting, Patterns


def load(root="/work/shared/data/clarifying-em/open_models"):
    fs = sorted(glob.glob(f"{root}/*/*.csv"))
    parts = []
    for f in fs:
        d = pd.read_csv(f)
        stem = re.sub(r"^(responses_|eval_results_)", "", f.split("/")[-1][:-4])
        d["condition"] = stem
        parts.append(d)
    d = pd.concat(parts, ignore_index=True)
    m = d["question_id"].str.extract(r"^(?P<prompt>.+?)(?:_(?P<format>json|template))?$")
    d["prompt"] = m["prompt"]; d["format"] = m["format"].fillna("plain")
    g = Grid()
    d["aligned"] = g.bin(d["aligned"].to_numpy()); d["coherent"] = g.bin(d["coherent"].to_numpy())
    t = d.groupby(["condition", "prompt", "format", "aligned", "coherent"]).size().rename("count").reset_index()
    acc = Accounting(rows_read=len(d), rows_used=len(d))
    return Patterns(t, {"aligned": g, "coherent": g}, ["aligned", "coherent"], ["format"], [], None, acc)
