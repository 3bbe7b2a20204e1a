"""The design of a simulated log: the condition hierarchy, the prompts and their features, and the answers per cell
(:class:`Design`), laid out as the tables a log of that design has."""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError

#: columns a simulated log always has besides the condition levels, prompt features and measures
RESERVED_COLUMNS = ("answer_id", "question_id", "question", "verdict", "condition", "prompt", "count")
#: the most answers (rows) one simulated log may have: its rows are drawn and held in memory
MAX_ROWS = 10_000_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _bad(message: str) -> SimstatsError:
    return SimstatsError(message)


@dataclass(frozen=True)
class Design:
    """How a simulated log is collected: the condition hierarchy, the prompts and the answers per cell.

    ``levels``: condition-level columns, coarsest first (the last one names a condition within its parent);
    ``groups``: how many groups each parent has at each level (``(2, 2, 2)``: 2 base models, 2 fine-tunes of each,
    2 runs of each), named ``<level>_<i>``; ``baseline``: when set (and there are at least two levels), every
    top-level group also gets one un-fine-tuned condition whose lower levels all equal ``baseline`` (``"none"``
    matches the default spec's ``finetuned`` effect; with one level, ``baseline`` is one extra condition);
    ``questions``: how many questions (``q01``, ...), each asked in every combination of the prompt ``features``
    (feature -> levels; the first level is unmarked in the question id, the others are ``_<level>`` suffixes, as
    in the emergent-misalignment logs' ``what_is_your_wish_json``); ``answers``: answers per (condition, question
    id); ``verdicts``: write a ``verdict`` column (``None``: when the spec's personas declare verdicts, or when an
    answer can have no score at all), with ``verdict_levels`` the non-"scored" levels.

    >>> d = Design()
    >>> d.n_conditions, d.n_prompts, d.answers, d.n_rows
    (10, 24, 50, 12000)
    >>> Design(groups=(3, 1, 1), baseline=None, questions=8, features={}).n_rows
    1200
    >>> Design(answers=0)
    Traceback (most recent call last):
    simstats.errors.SimstatsError: design: answers must be an integer >= 1, got 0
    """

    levels: tuple[str, ...] = ("base_model", "finetune", "run")
    groups: tuple[int, ...] = (2, 2, 2)
    baseline: str | None = "none"
    questions: int = 12
    features: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"format": ("plain", "json")})
    answers: int = 50
    verdicts: bool | None = None
    verdict_levels: tuple[str, ...] = ("CODE", "REFUSAL")

    def __post_init__(self) -> None:
        def whole(name: str, v: object) -> int:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise _bad(f"design: {name} must be an integer >= 1, got {v!r}")
            return int(v)

        if isinstance(self.levels, str) or isinstance(self.groups, (str, int)):
            raise _bad("design: levels and groups must be sequences (e.g. levels=('model',), groups=(4,))")
        levels = tuple(self.levels)
        groups = tuple(whole("groups", g) for g in self.groups)
        if not levels:
            raise _bad("design: give at least one condition level (e.g. levels=('model',))")
        if len(groups) != len(levels):
            raise _bad(f"design: {len(levels)} levels {list(levels)} need {len(levels)} group counts, got "
                       f"{list(groups)}")
        feats = {str(f): tuple(v) for f, v in dict(self.features).items()}
        names = list(levels) + list(feats)
        for n in names:
            if not isinstance(n, str) or not _NAME.match(n):
                raise _bad(f"design: column name {n!r} must be a letter then letters, digits or '_'")
            if n in RESERVED_COLUMNS:
                raise _bad(f"design: {n!r} is a column every simulated log has; name the level or feature "
                           "differently")
        if len(set(names)) != len(names):
            raise _bad(f"design: level and feature names must be unique, got {names}")
        for f, lv in feats.items():
            if len(lv) < 2 or len(set(lv)) != len(lv) or not all(isinstance(x, str) and x.strip() == x and x
                                                                    for x in lv):
                raise _bad(f"design: feature {f!r} needs two or more distinct, non-empty levels without spaces "
                           f"at the ends, got {list(lv)}")
        marked = [v for lv in feats.values() for v in lv[1:]]
        if len(set(marked)) != len(marked):
            raise _bad(f"design: the question-id suffixes (every feature level but the first) must differ across "
                       f"features, got {marked}")
        if self.baseline is not None and (not isinstance(self.baseline, str) or not self.baseline
                                          or self.baseline.strip() != self.baseline or "/" in self.baseline
                                          or re.fullmatch(r"(?:%s)_\d+" % "|".join(map(re.escape, levels)),
                                                          self.baseline)):
            raise _bad(f"design: baseline must be a non-empty name without '/' that is not a group name (or None), "
                       f"got {self.baseline!r}")
        vl = tuple(self.verdict_levels)
        if not vl or len(set(vl)) != len(vl) or "scored" in vl or not all(isinstance(x, str) and x for x in vl):
            raise _bad(f"design: verdict_levels must be distinct non-empty names other than 'scored', got {list(vl)}")
        if self.verdicts not in (None, True, False):
            raise _bad(f"design: verdicts must be True, False or None, got {self.verdicts!r}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "questions", whole("questions", self.questions))
        object.__setattr__(self, "answers", whole("answers", self.answers))
        object.__setattr__(self, "verdict_levels", vl)
        if self.n_rows > MAX_ROWS:                 # drawn in memory: refuse before anything is allocated
            raise _bad(f"design: {self.n_conditions:,} conditions x {self.n_prompts:,} question ids x "
                       f"{self.answers:,} answers is {self.n_rows:,} rows, more than the {MAX_ROWS:,} a simulated "
                       "log may have; lower --groups, --questions, --features or --answers")

    # ------------------------------------------------------------------------------------------------ layout
    def condition_table(self) -> pd.DataFrame:
        """One row per condition, in design order: the level columns and ``condition`` (the levels joined by
        ``/``, as the logs layer names it)."""
        names = [[f"{lev}_{j:0{len(str(n - 1))}d}" for j in range(n)] for lev, n in zip(self.levels, self.groups)]
        rows: list[tuple[str, ...]] = []
        if len(self.levels) == 1:
            rows = ([(self.baseline,)] if self.baseline is not None else []) + [(v,) for v in names[0]]
        else:
            for top in names[0]:
                if self.baseline is not None:
                    rows.append((top,) + (self.baseline,) * (len(self.levels) - 1))
                rows.extend((top, *rest) for rest in itertools.product(*names[1:]))
        t = pd.DataFrame(rows, columns=list(self.levels), dtype=object)
        t["condition"] = t[list(self.levels)].agg("/".join, axis=1)
        return t

    def prompt_table(self) -> pd.DataFrame:
        """One row per question id, in design order: ``question_id``, ``prompt`` (the question), ``question`` (its
        text) and one column per feature."""
        w = max(2, len(str(self.questions)))
        rows = []
        for i in range(1, self.questions + 1):
            q = f"q{i:0{w}d}"
            for combo in itertools.product(*self.features.values()):
                marked = [(f, v) for (f, lv), v in zip(self.features.items(), combo) if v != lv[0]]
                rows.append({"question_id": q + "".join(f"_{v}" for _, v in marked), "prompt": q,
                             "question": f"Simulated question {i}?" + "".join(f" [{f}: {v}]" for f, v in marked),
                             **dict(zip(self.features, combo))})
        return pd.DataFrame(rows, columns=["question_id", "prompt", "question", *self.features], dtype=object)

    @property
    def n_conditions(self) -> int:
        n = math.prod(self.groups[1:]) + (self.baseline is not None)
        return self.groups[0] * n if len(self.levels) > 1 else self.groups[0] + (self.baseline is not None)

    @property
    def n_prompts(self) -> int:
        """Question ids (questions times feature combinations)."""
        return self.questions * math.prod(len(v) for v in self.features.values())

    @property
    def n_rows(self) -> int:
        return self.n_conditions * self.n_prompts * self.answers

    def prompt_regex(self) -> str | None:
        """The regex that splits a question id into the question and its features (``None`` without features)."""
        if not self.features:
            return None
        parts = [f"(?:_(?P<{f}>{'|'.join(re.escape(v) for v in lv[1:])}))?" for f, lv in self.features.items()]
        return "^(?P<prompt>[^_]+)" + "".join(parts) + "$"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = {f: list(v) for f, v in self.features.items()}
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict) -> Design:
        """The design of a truth file (``to_dict`` output)."""
        if not isinstance(d, dict):
            raise _bad(f"design must be a table, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise _bad(f"design: unknown key(s) {unknown}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as e:
            raise _bad(f"design: {e}") from None


# ------------------------------------------------------------------------------------------------- parameters


__all__ = ["RESERVED_COLUMNS", "Design"]
