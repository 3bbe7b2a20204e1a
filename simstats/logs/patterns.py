"""The exact sufficient statistics of a log: counts of unique (condition, prompt, measurement pattern).

Answers that share a condition, a prompt (with its features) and a measurement pattern are exchangeable under every
model in simstats, so a likelihood evaluated once per pattern and weighted by its count equals the row-level
likelihood. Fits therefore cost the same for 10^3 or 10^7 logged answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from simstats.logs.grid import MISSING_BIN, Grid


@dataclass
class Accounting:
    """Where every input row went: ``rows_read == rows_used + sum(excluded.values())``."""

    rows_read: int = 0
    rows_used: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # file -> rows read from it

    def exclude(self, reason: str, n: int = 1) -> None:
        if n:
            self.excluded[reason] = self.excluded.get(reason, 0) + int(n)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_used + sum(self.excluded.values())

    def to_dict(self) -> dict:
        return {"rows_read": self.rows_read, "rows_used": self.rows_used,
                "excluded": dict(sorted(self.excluded.items())), "files": dict(self.files)}


@dataclass
class Patterns:
    """Counts of unique patterns, the input of every model.

    ``table`` has one row per unique pattern with columns:

    - ``condition`` (str): the checkpoint; plus its named parts in ``condition_columns`` (e.g. ``base_model``,
      ``finetune``, ``run``, or file-name groups such as ``rank``), each constant within a condition, of which
      ``condition_levels`` are the hierarchy (coarsest first: every part but the last);
    - ``prompt`` (str): the question id; plus one column per prompt feature in ``features`` (str);
    - one column per measurement in ``measures`` (int16 bin index on ``grids[m]``, ``MISSING_BIN`` = -1 when the
      judge gave no score);
    - ``verdict`` (str, ``"scored"`` when the judge gave scores) if the log declares verdicts;
    - ``count`` (int64): how many answers share the pattern.

    ``behaviours``: the thresholded behaviours the roles declare (name -> rule text, e.g. ``"aligned < 30"``).
    """

    table: pd.DataFrame
    grids: dict[str, Grid]
    measures: list[str]
    features: list[str] = field(default_factory=list)
    condition_levels: list[str] = field(default_factory=list)
    verdict_levels: list[str] | None = None
    accounting: Accounting = field(default_factory=Accounting)
    condition_columns: list[str] | None = None
    behaviours: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.condition_columns is None:      # the hierarchy levels are condition columns too
            self.condition_columns = list(self.condition_levels)

    @property
    def n_answers(self) -> int:
        return int(self.table["count"].sum())

    @property
    def conditions(self) -> list[str]:
        return sorted(self.table["condition"].unique().tolist())

    @property
    def prompts(self) -> list[str]:
        return sorted(self.table["prompt"].unique().tolist())

    def coarsen(self, n_bins: int | dict[str, int]) -> Patterns:
        """Re-aggregate onto coarser grids (bins must nest), summing counts of patterns that merge."""
        per = n_bins if isinstance(n_bins, dict) else {m: n_bins for m in self.measures}
        t = self.table.copy()
        grids = dict(self.grids)
        for m, nb in per.items():
            t[m] = self.grids[m].coarsen_index(t[m].to_numpy(), nb)
            grids[m] = self.grids[m].coarsen(nb)
        keys = [c for c in t.columns if c != "count"]
        t = t.groupby(keys, observed=True, sort=True, dropna=False)["count"].sum().reset_index()
        return Patterns(t, grids, list(self.measures), list(self.features), list(self.condition_levels),
                        self.verdict_levels, self.accounting, list(self.condition_columns), dict(self.behaviours))

    def select(self, conditions: list[str] | None = None, prompts: list[str] | None = None) -> Patterns:
        """The patterns of some conditions and/or prompts only (e.g. a quick look at a few checkpoints).

        Raises ``KeyError`` naming any condition or prompt that is not in the data. The accounting is kept as it
        was (it describes the rows read, not the selection).

        >>> from simstats.datasets import load_dataset
        >>> p = load_dataset().patterns
        >>> p.select(conditions=[c for c in p.conditions if "Coder" in c]).n_answers
        8880
        """
        t = self.table
        keep = pd.Series(True, index=t.index)
        for col, wanted, have in (("condition", conditions, self.conditions), ("prompt", prompts, self.prompts)):
            if wanted is None:
                continue
            unknown = sorted(set(wanted) - set(have))
            if unknown:
                raise KeyError(f"no {col} {unknown} in the data (it has {have})")
            keep &= t[col].isin(wanted)
        return Patterns(t[keep].reset_index(drop=True), dict(self.grids), list(self.measures), list(self.features),
                        list(self.condition_levels), self.verdict_levels, self.accounting,
                        list(self.condition_columns), dict(self.behaviours))

    def data_hash(self) -> str:
        """A SHA-256 of the pattern table (order-independent), stored with fits so loads can check it."""
        t = self.table.sort_values([c for c in self.table.columns if c != "count"]).reset_index(drop=True)
        h = hashlib.sha256()
        h.update(",".join(map(str, t.columns)).encode())
        h.update(pd.util.hash_pandas_object(t, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def meta(self) -> dict:
        """Everything but the table, JSON-able (stored beside the table with a fit; :meth:`from_meta` reads it)."""
        d = {"grids": {m: g.to_dict() for m, g in self.grids.items()}, "measures": self.measures,
             "features": self.features, "condition_levels": self.condition_levels,
             "verdict_levels": self.verdict_levels, "accounting": self.accounting.to_dict()}
        if self.condition_columns != self.condition_levels:      # written only when they differ (older metas)
            d["condition_columns"] = self.condition_columns
        if self.behaviours:
            d["behaviours"] = self.behaviours
        return d

    @classmethod
    def from_meta(cls, table: pd.DataFrame, meta: dict) -> Patterns:
        """Patterns from a table and :meth:`meta`."""
        acc = meta.get("accounting", {})
        grids = {m: Grid(**{**g, "labels": tuple(g["labels"])} if g.get("labels") else g)
                 for m, g in meta["grids"].items()}
        return cls(table, grids, meta["measures"], meta["features"], meta["condition_levels"],
                   meta["verdict_levels"], Accounting(acc.get("rows_read", 0), acc.get("rows_used", 0),
                                                      acc.get("excluded", {}), acc.get("files", {})),
                   meta.get("condition_columns"), dict(meta.get("behaviours", {})))

    def missing_rate(self, measure: str) -> float:
        t = self.table
        return float(t.loc[t[measure] == MISSING_BIN, "count"].sum() / t["count"].sum())



__all__ = ["Accounting", "Patterns"]
