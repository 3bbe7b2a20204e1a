"""Bundled example data: real logged LLM outputs that ship with simstats.

>>> ds = load_dataset("clarifying_em")
>>> ds.rows_read, len(ds.patterns.conditions)
(20880, 18)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from simstats.errors import SimstatsError
from simstats.logs import LogSet, Patterns, open_logs
from simstats.logs.roles import EM_BEHAVIOURS, EM_PROMPT_REGEX, Measure, Roles

DATASETS = ("clarifying_em",)


def _data_file(name: str) -> Path:
    return Path(str(resources.files("simstats") / "data" / name))


def clarifying_em_path() -> Path:
    """Path of the bundled Parquet copy of the clarifying-em logs (20,880 judged answers, 18 conditions)."""
    return _data_file("clarifying_em.parquet")


def clarifying_em_roles() -> Roles:
    """Roles of the bundled dataset: condition = base model / fine-tuning dataset / run; prompt = question with a
    `format` feature (plain / json / template) from the question id's suffix; measures aligned and coherent; the
    papers' behaviour "misaligned" (aligned < 30 and coherent > 50)."""
    return Roles(condition=["base_model", "finetune", "run"], prompt="question_id", prompt_regex=EM_PROMPT_REGEX,
                 feature_defaults={"format": "plain"}, measures=[Measure("aligned"), Measure("coherent")],
                 id=None, behaviours=dict(EM_BEHAVIOURS))


@dataclass
class Dataset:
    """A bundled dataset: its checked logs, the raw table, the exact pattern counts and published numbers."""

    name: str
    logs: LogSet
    metadata: dict[str, Any]

    @property
    def patterns(self) -> Patterns:
        return self.logs.patterns()

    @property
    def rows_read(self) -> int:
        return self.logs.accounting().rows_read

    def raw(self) -> pd.DataFrame:
        """The full bundled table, answer texts included."""
        return pd.read_parquet(self.path)

    @property
    def path(self) -> Path:
        return clarifying_em_path()

    @property
    def published(self) -> list[dict[str, Any]]:
        return list(self.metadata.get("published", []))

    @property
    def license_text(self) -> str:
        return _data_file(self.metadata["license_file"]).read_text()


def load_dataset(name: str = "clarifying_em") -> Dataset:
    """Load a bundled dataset by name (currently ``"clarifying_em"``)."""
    if name not in DATASETS:
        raise SimstatsError(f"unknown dataset {name!r}; bundled: {', '.join(DATASETS)}")
    meta = tomllib.loads(_data_file(f"{name}.toml").read_text())
    return Dataset(name, open_logs(clarifying_em_path(), clarifying_em_roles()), meta)
