"""Roles: which column of a log plays which part in the models.

Users map their own columns onto roles instead of renaming them: the *condition* (which checkpoint answered; one
or more columns, or named groups of a regex on the file name), the *prompt* (question id, optionally split by a
regex into the question and prompt *features* such as a format suffix), the *measures* (bounded judge scores) and
an optional *verdict* (categorical outcomes such as CODE / REFUSAL). Roles come from Python, a TOML file or CLI flags.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simstats.errors import RolesError
from simstats.logs.grid import Grid

#: Column and regex conventions of the emergent-misalignment logs (question ids with `_json` / `_template` suffixes).
EM_PROMPT_REGEX = r"^(?P<prompt>.+?)(?:_(?P<format>json|template))?$"


@dataclass(frozen=True)
class Measure:
    """A bounded judge score column and the grid its values are binned on for exact sufficient statistics."""

    column: str
    lower: float = 0.0
    upper: float = 100.0
    n_bins: int = 100
    name: str | None = None

    @property
    def key(self) -> str:
        return self.name or self.column

    @property
    def grid(self) -> Grid:
        return Grid(self.lower, self.upper, self.n_bins)


@dataclass(frozen=True)
class Roles:
    """The role mapping of a log.

    >>> r = Roles(condition=["model"], prompt="question_id", measures=[Measure("aligned"), Measure("coherent")])
    >>> r.measure_keys
    ['aligned', 'coherent']
    """

    condition: list[str] = field(default_factory=list)
    condition_from_filename: str | None = None
    prompt: str = "question_id"
    prompt_regex: str | None = None
    feature_defaults: dict[str, str] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=lambda: [Measure("aligned"), Measure("coherent")])
    verdict: str | None = None
    verdict_levels: list[str] | None = None
    score_verdicts: list[str] = field(default_factory=lambda: ["CODE", "REFUSAL"])
    id: str | None = None
    unique_ids: bool = True

    def __post_init__(self) -> None:
        if self.condition and self.condition_from_filename:
            raise RolesError("give the condition either as columns or as a file-name regex, not both")
        if not self.measures and not self.verdict:
            raise RolesError("roles need at least one measure (judge score) or a verdict column")
        keys = self.measure_keys
        if len(set(keys)) != len(keys):
            raise RolesError(f"measure names must be unique, got {keys}")
        for name, rx in (("condition_from_filename", self.condition_from_filename),
                         ("prompt_regex", self.prompt_regex)):
            if rx is not None:
                try:
                    re.compile(rx)
                except re.error as e:
                    raise RolesError(f"{name} is not a valid regular expression ({e}): {rx!r}") from None
        if self.condition_from_filename and not re.compile(self.condition_from_filename).groupindex:
            raise RolesError("condition_from_filename needs named groups, e.g. "
                             r"'responses_(?P<model>.+)\.csv'")
        if self.prompt_regex and "prompt" not in re.compile(self.prompt_regex).groupindex:
            raise RolesError("prompt_regex needs a named group 'prompt', e.g. " + repr(EM_PROMPT_REGEX))

    @property
    def measure_keys(self) -> list[str]:
        return [m.key for m in self.measures]

    @property
    def condition_parts(self) -> list[str]:
        """Names of the parts that make up a condition, coarsest first (columns or regex groups)."""
        if self.condition_from_filename:
            return list(re.compile(self.condition_from_filename).groupindex)
        return list(self.condition)

    @property
    def regex_features(self) -> list[str]:
        if not self.prompt_regex:
            return []
        return [g for g in re.compile(self.prompt_regex).groupindex if g != "prompt"]

    @property
    def feature_names(self) -> list[str]:
        return self.regex_features + [f for f in self.features if f not in self.regex_features]

    def required_columns(self) -> list[str]:
        cols = list(self.condition) + [self.prompt] + list(self.features) + [m.column for m in self.measures]
        if self.verdict:
            cols.append(self.verdict)
        if self.id:
            cols.append(self.id)
        return list(dict.fromkeys(cols))

    def replace(self, **changes: Any) -> Roles:
        from dataclasses import replace
        return replace(self, **changes)


def em_roles(**overrides: Any) -> Roles:
    """Roles for emergent-misalignment logs: `question_id` with format suffixes, `aligned` and `coherent` scores."""
    base = dict(prompt="question_id", prompt_regex=EM_PROMPT_REGEX, feature_defaults={"format": "plain"},
                measures=[Measure("aligned"), Measure("coherent")])
    base.update(overrides)
    return Roles(**base)


_TOP_KEYS = {"condition", "prompt", "measure", "verdict", "id"}
_SECTION_KEYS = {
    "condition": {"columns", "from_filename"},
    "prompt": {"column", "regex", "features", "defaults"},
    "measure": {"column", "name", "lower", "upper", "bins"},
    "verdict": {"column", "levels", "in_scores"},
    "id": {"column", "unique"},
}


def _check_keys(where: str, got: dict, allowed: set[str], path: Path) -> None:
    for k in got:
        if k not in allowed:
            hint = difflib.get_close_matches(k, sorted(allowed), n=1)
            tip = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(sorted(allowed))}"
            raise RolesError(f"{path}: unknown key {k!r} in {where}{tip}")


def load_roles(path: str | Path) -> Roles:
    """Read a roles TOML file.

    Example file::

        [condition]
        from_filename = 'responses_(?P<model>.+)\\.csv'
        [prompt]
        column = "question_id"
        regex = '^(?P<prompt>.+?)(?:_(?P<format>json|template))?$'
        defaults = { format = "plain" }
        [[measure]]
        column = "aligned"
        [[measure]]
        column = "coherent"
        [verdict]
        in_scores = ["CODE", "REFUSAL"]
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RolesError(f"{path}: roles file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RolesError(f"{path}: not valid TOML ({e})") from None
    _check_keys("the roles file", raw, _TOP_KEYS, path)
    for section in ("condition", "prompt", "verdict", "id"):
        if section in raw:
            _check_keys(f"[{section}]", raw[section], _SECTION_KEYS[section], path)
    kw: dict[str, Any] = {}
    cond = raw.get("condition", {})
    if "columns" in cond:
        cols = cond["columns"]
        kw["condition"] = [cols] if isinstance(cols, str) else list(cols)
    if "from_filename" in cond:
        kw["condition_from_filename"] = cond["from_filename"]
    prompt = raw.get("prompt", {})
    if "column" in prompt:
        kw["prompt"] = prompt["column"]
    if "regex" in prompt:
        kw["prompt_regex"] = prompt["regex"]
    kw["features"] = list(prompt.get("features", []))
    kw["feature_defaults"] = {str(k): str(v) for k, v in prompt.get("defaults", {}).items()}
    if "measure" in raw:
        measures = []
        for i, m in enumerate(raw["measure"]):
            _check_keys(f"[[measure]] #{i + 1}", m, _SECTION_KEYS["measure"], path)
            if "column" not in m:
                raise RolesError(f"{path}: [[measure]] #{i + 1} needs a 'column'")
            measures.append(Measure(m["column"], float(m.get("lower", 0.0)), float(m.get("upper", 100.0)),
                                    int(m.get("bins", 100)), m.get("name")))
        kw["measures"] = measures
    verdict = raw.get("verdict", {})
    if "column" in verdict:
        kw["verdict"] = verdict["column"]
    if "levels" in verdict:
        kw["verdict_levels"] = list(verdict["levels"])
    if "in_scores" in verdict:
        kw["score_verdicts"] = list(verdict["in_scores"])
    ident = raw.get("id", {})
    if "column" in ident:
        kw["id"] = ident["column"]
        kw["unique_ids"] = bool(ident.get("unique", True))
    return Roles(**kw)
