"""SQL that maps one file's columns onto roles: condition, prompt and features, measure values, verdict, and the
reason a row is excluded (or NULL when it is used).

Everything is vectorised in DuckDB so that the same code serves a 100-row CSV and a 10^7-row Parquet table.
"""

from __future__ import annotations

import re
from pathlib import Path

from simstats.errors import DataError
from simstats.logs.readers import FILE, ROW
from simstats.logs.roles import Measure, Roles, re2_search

MISSING_TOKENS = ("nan", "none", "null", "na", "n/a")  # spellings of an empty score that loggers write
NONE_LEVEL = "none"  # value of an optional regex group or feature that is absent


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def in_list(expr: str, values: list[str]) -> str:
    return f"({expr} IN ({', '.join(lit(v) for v in values)}))" if values else "FALSE"


def filename_parts(roles: Roles, path: Path) -> dict[str, str]:
    """Named groups of the condition regex on a file name (an optional group that did not match takes its declared
    default, ``roles.condition_defaults``, else 'none').

    The regex runs in RE2, as the prompt regex does: its time is linear in the name, so a pattern that would
    backtrack catastrophically in Python's ``re`` (e.g. ``(a|aa)+b``) cannot hang a run.
    """
    pattern = roles.condition_from_filename or ""
    groups = dict(re.compile(pattern).groupindex)
    found = re2_search(pattern, path.name, groups) or re2_search(pattern, path.as_posix(), groups)
    if found is None:
        raise DataError(f"the file name does not match the condition regex {pattern!r}", file=str(path))
    return {k: (v if v else roles.condition_defaults.get(k, NONE_LEVEL)) for k, v in found.items()}


def measure_text(col: str, is_text: bool) -> str:
    """The raw score as trimmed text, NULL when empty or spelled as missing."""
    if not is_text:
        return f"CAST({q(col)} AS VARCHAR)"
    t = f"NULLIF(trim({q(col)}), '')"
    return f"CASE WHEN lower({t}) IN ({', '.join(lit(x) for x in MISSING_TOKENS)}) THEN NULL ELSE {t} END"


def level_value(measure: Measure, is_text: bool) -> str:
    """A binary or categorical measure's level as the DOUBLE ``index + 0.5`` (the middle of its bin on the grid of
    levels), NULL when empty, missing or anything else (validation has refused unknown values already)."""
    if is_text:
        t = f"lower({measure_text(measure.column, True)})"
        cases = [f"WHEN {in_list(t, list(tokens))} THEN {i + 0.5}" for i, tokens in enumerate(measure.tokens())]
    else:          # numbers: a binary measure's 0 and 1
        v = f"CAST({q(measure.column)} AS DOUBLE)"
        cases = [f"WHEN {v} = {i} THEN {i + 0.5}" for i in range(len(measure.tokens()))]
    return f"(CASE {' '.join(cases)} END)"


def measure_sql(measure: Measure, is_text: bool, verdicts: list[str]) -> str:
    """The SQL value of a measure: its score, or its level (:func:`level_value`)."""
    if measure.has_levels:
        return level_value(measure, is_text)
    return measure_value(measure.column, is_text, verdicts)


def measure_value(col: str, is_text: bool, verdicts: list[str]) -> str:
    """The score as DOUBLE; NULL when empty, NaN, or a verdict word (CODE/REFUSAL) written in the score column."""
    if is_text:
        t = measure_text(col, True)
        v = f"TRY_CAST({t} AS DOUBLE)"
        v = f"CASE WHEN {in_list(t, verdicts)} THEN NULL ELSE {v} END"
    else:
        v = f"CAST({q(col)} AS DOUBLE)"
    # NaN is tested through its text: DuckDB folds isnan() to FALSE on Parquet columns whose statistics omit NaN
    return f"(CASE WHEN lower(CAST({v} AS VARCHAR)) LIKE '%nan' THEN NULL ELSE {v} END)"


def select_sql(roles: Roles, view: str, path: Path, text_cols: set[str]) -> str:
    """One file's rows mapped onto roles, with ``_excluded`` holding the reason a row is not used."""
    parts = roles.condition_parts
    cols = [f"{lit(str(path))} AS {FILE}", ROW]
    if roles.condition_from_filename:
        part_exprs = {k: lit(v) for k, v in filename_parts(roles, path).items()}
    elif parts:
        part_exprs = {k: f"NULLIF(trim(CAST({q(k)} AS VARCHAR)), '')" for k in parts}
    else:  # no condition role: each file is its own condition, named by its stem
        part_exprs = {"condition": lit(path.stem)}
    for k, e in part_exprs.items():
        if k != "condition":
            cols.append(f"{e} AS {q(k)}")
    cond = " || '/' || ".join(part_exprs.values())
    cols.append(f"{cond} AS condition")

    prompt_raw = f"NULLIF(trim(CAST({q(roles.prompt)} AS VARCHAR)), '')"
    if roles.prompt_regex:
        rx = lit(roles.prompt_regex)
        group = re.compile(roles.prompt_regex).groupindex  # DuckDB's RE2 numbers groups as Python does
        cols.append(f"NULLIF(regexp_extract({prompt_raw}, {rx}, {group['prompt']}), '') AS prompt")
        for g in roles.regex_features:
            default = lit(roles.feature_defaults.get(g, NONE_LEVEL))
            value = f"regexp_extract({prompt_raw}, {rx}, {group[g]})"
            cols.append(f"COALESCE(NULLIF({value}, ''), {default}) AS {q(g)}")
        prompt_ok = f"regexp_matches({prompt_raw}, {rx})"
    else:
        cols.append(f"{prompt_raw} AS prompt")
        prompt_ok = "TRUE"
    for f in roles.features:
        if f not in roles.regex_features:
            default = lit(roles.feature_defaults.get(f, NONE_LEVEL))
            cols.append(f"COALESCE(NULLIF(trim(CAST({q(f)} AS VARCHAR)), ''), {default}) AS {q(f)}")

    values = {m.key: measure_sql(m, m.column in text_cols, roles.score_verdicts) for m in roles.measures}
    for k, v in values.items():
        cols.append(f"{v} AS {q(k)}")

    verdict_sources = []
    if roles.verdict:
        verdict_sources.append(f"NULLIF(trim(CAST({q(roles.verdict)} AS VARCHAR)), '')")
    for m in roles.measures:
        if m.column in text_cols and roles.score_verdicts:
            t = measure_text(m.column, True)
            verdict_sources.append(f"CASE WHEN {in_list(t, roles.score_verdicts)} THEN {t} END")
    verdict = f"COALESCE({', '.join(verdict_sources)})" if verdict_sources else "CAST(NULL AS VARCHAR)"
    cols.append(f"{verdict} AS verdict")

    no_measure = " AND ".join(f"({v}) IS NULL" for v in values.values()) or "TRUE"
    missing_cond = " OR ".join(f"({e}) IS NULL" for e in part_exprs.values())
    reason = (f"CASE WHEN {missing_cond} THEN 'missing condition' "
              f"WHEN {prompt_raw} IS NULL THEN 'missing prompt' "
              f"WHEN NOT {prompt_ok} THEN 'prompt does not match prompt_regex' "
              f"WHEN {no_measure} AND ({verdict}) IS NULL THEN 'no score and no verdict' END")
    cols.append(f"{reason} AS _excluded")
    if roles.id:
        cols.append(f"CAST({q(roles.id)} AS VARCHAR) AS _id")
    return f"SELECT {', '.join(cols)} FROM {view}"
