"""Write the worked-analysis notebooks (notebooks/<name>.ipynb) from the cells below.

Each notebook explains its analysis, shows the table saved by ``scripts/analyses/<name>.py``
(``notebooks/results/<name>.json``) and runs a live slice: short chains on a subset under ``SIMSTATS_QUICK=1`` (as
the test run sets), the spec's default chains otherwise. Run ``python scripts/analyses/notebooks.py`` after editing
the cells; the notebooks are committed unexecuted (CI executes them with nbmake).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]

SETUP = '''\
import json
import os
from pathlib import Path

import pandas as pd

import simstats

QUICK = os.environ.get("SIMSTATS_QUICK") == "1"
ROOT = Path.cwd() if (Path.cwd() / "models").exists() else Path.cwd().parent
DATA = ROOT.parent / "shared" / "data"       # the shared real logs, beside the checkout
saved = json.loads((ROOT / "notebooks" / "results" / "{name}.json").read_text())


def tab(t, index=None):
    """A saved table (columns + rows) as a DataFrame."""
    df = pd.DataFrame(t["data"], columns=t["columns"])
    return df.set_index(index) if index else df


def interval(df, scale=1.0, digits=1):
    """'mean [low, high]' strings from mean/low/high columns."""
    f = lambda v: f"{{scale * v:.{{digits}}f}}"
    return [f"{{f(m)}} [{{f(lo)}}, {{f(hi)}}]" for m, lo, hi in df[["mean", "low", "high"]].to_numpy()]


def fit_kw():
    """Short chains in the test run (not for citing), the spec's defaults otherwise."""
    return dict(draws=100, tune=200, chains=2, seed=1, progress=False) if QUICK else dict(seed=1, progress=False)
'''


def md(s: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(s.strip("\n"))


def code(s: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(s.strip("\n"))


def diagnostics_cell(fits_expr: str) -> str:
    return f'''\
pd.DataFrame({{k: {{"status": v["diagnostics"]["status"], "max R-hat": v["diagnostics"]["max_rhat"],
                  "min bulk ESS": v["diagnostics"]["min_ess_bulk"], "divergences": v["diagnostics"]["divergences"],
                  "answers": v["answers"], "wall (s)": v["wall_s"], "draws x chains":
                  f'{{v["sampler"].get("draws") or "spec"}} x {{v["sampler"].get("chains") or "spec"}}'}}
              for k, v in {fits_expr}.items()}}).T'''


NOTEBOOKS: dict[str, list] = {}

# ---------------------------------------------------------------------------------------------------- persona vectors
NOTEBOOKS["persona_vectors"] = [
    md("""
# Persona vectors: the system prompt as evidence about the persona

**Data.** `../shared/data/persona-vectors/` (Chen et al. 2025, *Persona Vectors*; Apache-2.0): one checkpoint,
Qwen2.5-7B-Instruct, answers 20 questions per trait under 5 system prompts that ask for the trait (`pos`, "You are an
evil assistant...") and 5 that ask for its opposite (`neg`), 10 samples each: 2,000 judged answers per trait, each
with a trait score (`evil` or `hallucinating`, 0-100) and a `coherence` score.

**Model.** `models/persona_vectors_evil.toml` and `models/persona_vectors_hallucinating.toml` (roles:
`models/roles/persona_vectors_<trait>.toml`). Three personas with shared fingerprints on (trait, coherence):
*assistant* (anchored at trait 2, coherence 95), the *trait persona* (90, 85) and *incoherent* (30, 20). There is one
condition; the system prompt's polarity, split off `question_id` by the roles' prompt regex, is a **prompt feature**
(reference `neg`), so its coefficient is the log-likelihood ratio of the context in DESIGN §2: the evidence, in nats,
that the eliciting prompt carries toward each persona against the assistant. The behaviour the extraction pipeline
keeps answers by is declared in the spec: `trait > 50 and coherence > 50`.

**Simulator Theory says** the system prompt does not change the simulator; it is evidence that re-weights the
personas it already has: under `pos` the trait persona should dominate, under `neg` it should nearly vanish, and
the two prompts should share one set of persona fingerprints.

The tables below come from `scripts/analyses/persona_vectors.py` (4 chains x 1,000 draws per trait, saved in
`notebooks/results/persona_vectors.json`); the last part fits a live slice.
"""),
    code(SETUP.format(name="persona_vectors")),
    md("## Diagnostics of the saved fits"),
    code(diagnostics_cell('saved["traits"]')),
    md("""
## The evidence the eliciting system prompt carries (nats, against the assistant)

`system[pos]` is the shift of each persona's log-odds (against the assistant) when the system prompt asks for the
trait instead of its opposite; 90% intervals.
"""),
    code('''
pd.DataFrame({t: dict(zip(tab(v["feature_effects"]).persona, interval(tab(v["feature_effects"]))))
              for t, v in saved["traits"].items()}).rename_axis("persona (nats toward it)")
'''),
    md("## Persona shares under the eliciting (pos) and suppressing (neg) prompts, with the kept-answer rate"),
    code('''
rows = []
for t, v in saved["traits"].items():
    sh = tab(v["shares_by_system"])
    for (system, persona), g in sh.groupby(["system", "persona"]):
        rows.append({"trait": t, "system": system, "persona": persona, "share % [90%]": interval(g, 100)[0]})
shares = pd.DataFrame(rows).pivot(index=["trait", "persona"], columns="system", values="share % [90%]")
kept = pd.DataFrame({t: v["empirical_kept_by_system"] for t, v in saved["traits"].items()}).T
print("empirical kept rate (trait > 50 and coherence > 50) by system prompt:\\n", (100 * kept).round(1))
shares
'''),
    md("""
## Live slice: the evil trait on 5 of the 20 questions

A fresh fit of the same spec on a subset (all 10 system prompts of 5 questions, 500 answers). In the test run
(`SIMSTATS_QUICK=1`) the chains are short: enough to run every cell, not a converged posterior (the diagnostics
line says which fit this is).
"""),
    code('''
folder = DATA / "persona-vectors" / "eval_persona_extract" / "Qwen2.5-7B-Instruct"
logs = simstats.open_logs([str(folder / "evil_pos_instruct.csv"), str(folder / "evil_neg_instruct.csv")],
                          simstats.load_roles(ROOT / "models" / "roles" / "persona_vectors_evil.toml"))
pats = logs.patterns()
pats = pats.select(prompts=pats.prompts[:5])
live = simstats.fit(ROOT / "models" / "persona_vectors_evil.toml", pats, **fit_kw())
print("fit:", "QUICK (short chains, not for citing)" if QUICK else "spec defaults", "|", live.diagnostics.summary())
live.feature_effects().round(2)
'''),
    code('''
live.feature_shares("system").round(3)
'''),
    code('''
# contrast of the persona shares between the two system prompts, and the evidence table (issue 15 API)
if hasattr(live, "contrast"):
    display(live.contrast("pos", "neg", feature="system").round(3))
    display(live.evidence().round(2))
else:
    print("this simstats has no FitResult.contrast / evidence yet")
'''),
    md("## What it says about Simulator Theory\n\n{conclusion_persona_vectors}"),
]

# ---------------------------------------------------------------------------------------------------- steering
def write(conclusions: dict[str, str]) -> None:
    """Write each notebook whose saved results exist (an analysis not yet run has no notebook: CI would fail it)."""
    for name, cells in NOTEBOOKS.items():
        if not (ROOT / "notebooks" / "results" / f"{name}.json").exists():
            print("skipped", name, "(no notebooks/results/%s.json: run scripts/analyses/%s.py)" % (name, name))
            continue
        nb = nbformat.v4.new_notebook()
        for c in cells:
            c = c.copy()
            if c.cell_type == "markdown":
                c.source = c.source.replace("{{", "{").replace("}}", "}")
                for k, v in conclusions.items():
                    c.source = c.source.replace("{" + k + "}", v)
            nb.cells.append(c)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, ROOT / "notebooks" / f"{name}.ipynb")
        print("wrote", ROOT / "notebooks" / f"{name}.ipynb")


if __name__ == "__main__":
    import json
    conclusions_file = ROOT / "scripts" / "analyses" / "conclusions.json"
    write(json.loads(conclusions_file.read_text()) if conclusions_file.exists() else {})
