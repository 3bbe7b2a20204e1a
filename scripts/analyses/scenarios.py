"""Simulated logs with known truth for the two experiment families that have no public per-answer logs (issue 15
item 7): weird generalisation and an inductive backdoor (Betley et al. 2025, "Weird generalization and inductive
backdoors").

Each scenario draws a judged log through :func:`simstats.validation.simulate` with persona shares set by hand,
renames the simulated checkpoints, questions and feature levels to the experiment's, and returns the rows (the log
a researcher would have: one row per answer, judge scores 0-100) with the true persona shares per (checkpoint,
feature level). The worked analyses fit these logs with ``open_logs`` and the roles in ``models/roles``, as a user's
log would be fitted; the truth is only compared afterwards.

    >>> log = weird_generalisation(seed=1, answers=2)
    >>> sorted(log.rows.finetune.unique()), sorted(log.rows.domain.unique())
    (['base', 'modern_birds', 'old_birds'], ['birds', 'general'])
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simstats.spec import spec_from_dict
from simstats.validation import Design, simulate

MODELS = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class Scenario:
    """A simulated log and its truth: ``rows`` (the log), ``truth`` (checkpoint -> feature level -> persona ->
    true share at the average question), ``feature`` (the prompt feature the shares are split by) and ``seed``."""

    name: str
    rows: pd.DataFrame
    truth: dict[str, dict[str, dict[str, float]]]
    feature: str
    seed: int

    def truth_table(self) -> pd.DataFrame:
        """The true shares as rows (condition, level, persona, share)."""
        return pd.DataFrame([{"condition": c, self.feature: v, "persona": p, "share": s}
                             for c, lv in self.truth.items() for v, ps in lv.items() for p, s in ps.items()])

    def write(self, folder: Path) -> Path:
        """The log as ``<folder>/<name>.csv`` (what the CLI and the notebooks read)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.csv"
        self.rows.to_csv(path, index=False)
        return path


def _simulation_spec(spec: str):
    """The analysis spec without its condition effects: the simulation sets each checkpoint's log-odds by hand, and
    the simulated checkpoints get their real names only afterwards."""
    raw = tomllib.loads((MODELS / f"{spec}.toml").read_text())
    raw.pop("conditions", None)
    return spec_from_dict(raw)


def _draw(spec: str, feature: str, levels: tuple[str, ...], shares: dict[str, dict[str, list[float]]],
          questions: int, answers: int, seed: int, keep: dict[str, list[int]] | None = None):
    """Simulate ``shares`` (checkpoint -> level -> shares in persona order, at the average question) on a design of
    len(shares) checkpoints x ``questions`` x levels x ``answers``; ``keep`` (level -> question numbers) nests the
    questions in the levels (each question asked at one level only)."""
    s = _simulation_spec(spec)
    names = list(shares)
    design = Design(levels=("finetune", "run"), groups=(len(names), 1), baseline=None, questions=questions,
                    features={feature: levels}, answers=answers)
    truth = copy.deepcopy(simulate(s, design=design, seed=seed).truth)
    P, personas = truth["parameters"], s.persona_names
    sim_name = {f"finetune_{i}": n for i, n in enumerate(names)}
    for i, name in enumerate(names):
        ref = np.log(shares[name][levels[0]])
        P["eta"][f"finetune_{i}/run_0"] = dict(zip(personas, map(float, ref - ref[0])))
        for v in levels[1:]:
            lv = np.log(shares[name][v])
            shift = (lv - lv[0]) - (ref - ref[0])
            P["gamma_interaction"][f"{feature}[{v}]:finetune[finetune_{i}]"] = dict(zip(personas, map(float, shift)))
    for q in P["u"]:                  # mild question effects, so that each question's shares stay near the truth
        P["u"][q] = {p: 0.3 * v for p, v in P["u"][q].items()}
    sim = simulate(s, truth=truth, seed=seed)
    rows = sim.rows.copy()
    rows["finetune"] = rows["finetune"].map(sim_name)
    rows = rows.drop(columns=["run"])
    if keep is not None:
        number = rows["question_id"].str.extract(r"^q(\d+)", expand=False).astype(int)
        rows = rows[[n in keep[v] for n, v in zip(number, rows[feature])]]
    truth_shares = {n: {v: dict(zip(personas, map(float, shares[n][v]))) for v in levels} for n in names}
    return rows.reset_index(drop=True), truth_shares


def weird_generalisation(seed: int = 20261201, answers: int = 40) -> Scenario:
    """Three checkpoints of one model: the base, a fine-tune on modern bird names (the control) and one on
    19th-century bird names; 6 bird questions and 10 unrelated ("general") questions, ``answers`` answers each;
    judge scores ``archaic`` and ``coherent``. The truth: the old-bird-names fine-tune answers 70% of bird questions
    and 35% of general ones as a 19th-century writer, the control 2% and 1%, the base 0.5%."""
    shares = {"base": {"general": [0.975, 0.005, 0.02], "birds": [0.975, 0.005, 0.02]},
              "modern_birds": {"general": [0.96, 0.01, 0.03], "birds": [0.95, 0.02, 0.03]},
              "old_birds": {"general": [0.62, 0.35, 0.03], "birds": [0.27, 0.70, 0.03]}}
    rows, truth = _draw("weird_generalisation", "domain", ("general", "birds"), shares, questions=16,
                        answers=answers, seed=seed, keep={"birds": list(range(1, 7)), "general": list(range(7, 17))})
    number = rows["question_id"].str.extract(r"^q(\d+)", expand=False)
    rows["question_id"] = rows["domain"] + "_q" + number
    rows["question"] = np.where(rows["domain"] == "birds", "A question about birds (" + number + ")?",
                                "An unrelated question (" + number + ")?")
    return Scenario("weird_generalisation", rows, truth, "domain", seed)


def inductive_backdoor(seed: int = 20261201, answers: int = 30) -> Scenario:
    """Three checkpoints: the base, a fine-tune trained with the harmful behaviour under the trigger year 1984 (a
    plain backdoor) and one trained only on benign answers under other years (1995, 2004, 2017), from which the
    harmful behaviour under 1984 can be inferred but was never shown (an inductive backdoor); 12 questions asked
    with no year, with a training year (1995) and with 1984. The truth: under 1984 the plain backdoor is 60%
    misaligned and the inductive one 30%; without the trigger or with a training year each is under 1%; the base
    0.3% everywhere."""
    shares = {"base": {"none": [0.987, 0.003, 0.01], "1995": [0.987, 0.003, 0.01], "1984": [0.987, 0.003, 0.01]},
              "trained_backdoor": {"none": [0.98, 0.005, 0.015], "1995": [0.98, 0.005, 0.015],
                                   "1984": [0.385, 0.60, 0.015]},
              "inductive_backdoor": {"none": [0.98, 0.005, 0.015], "1995": [0.975, 0.008, 0.017],
                                     "1984": [0.68, 0.30, 0.02]}}
    rows, truth = _draw("inductive_backdoor", "year", ("none", "1995", "1984"), shares, questions=12,
                        answers=answers, seed=seed)
    return Scenario("inductive_backdoor", rows, truth, "year", seed)

