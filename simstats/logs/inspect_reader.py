"""Read an Inspect AI eval log into a flat pandas DataFrame.

The log is read through inspect_ai's own API (:func:`inspect_ai.log.read_eval_log`), so both the ``.eval``
(zip) and ``.json`` formats, and whatever log-format versions the installed inspect_ai understands, are handled
by inspect_ai itself. inspect_ai is an optional extra (``pip install 'simstats[inspect]'``) and is imported only
when :func:`read_inspect_log` is called.

Columns of the result, one row per sample and epoch:

* ``sample_id`` (str), ``epoch`` (int), ``model``, ``task``, ``input`` (prompt text), ``output`` (answer text);
* one column per score (see :func:`read_inspect_log` for the naming rule);
* ``metadata.<name>`` for each top-level field of the sample's metadata;
* ``_log_status``: the log's status (``"success"``, ``"error"``, ``"cancelled"`` or ``"started"``);
* ``_sample_error``: the error that stopped the sample (``""`` if none) -- such a sample has an empty ``output``
  and no scores, which is not the same as the model answering with nothing.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from simstats.errors import DataError

__all__ = ["read_inspect_log"]

BASE_COLUMNS = ["sample_id", "epoch", "model", "task", "input", "output"]
_STATUS_COLUMNS = ["_log_status", "_sample_error"]
_RESERVED = {*BASE_COLUMNS, *_STATUS_COLUMNS}
_INSTALL_HINT = "reading Inspect AI logs needs inspect-ai; install it with: pip install 'simstats[inspect]'"
# Fields of a sample that this reader never looks at; skipping them makes big .eval logs cheaper to read.
_SKIP_FIELDS = {"events", "store"}


def read_inspect_log(path: str | Path) -> pd.DataFrame:
    """Read one Inspect AI eval log (``.eval`` or ``.json``) into a DataFrame, one row per sample per epoch.

    Score columns. For a scorer named ``S``:

    * a numeric (or boolean) value gives a column ``S`` holding floats;
    * a string value (``"C"``, ``"I"``, ``"CODE"``, ``"REFUSAL"``, ...) is kept as the string, unchanged;
    * a dict value ``{key: value}`` gives one column ``S.key`` per key -- always prefixed with the scorer name,
      even where ``key`` alone would be unambiguous, so a column's name does not depend on which other scorers
      the log happens to hold; each cell follows the two rules above (``None`` becomes NaN);
    * a list value gives columns ``S.0``, ``S.1``, ...
    * a scorer whose name is one of the fixed columns (``input``, ``model``, ...) or starts with ``metadata.`` is
      named ``score.S`` instead, so it cannot overwrite them.

    A column whose cells are all numbers (or missing) has dtype float64; one that mixes numbers and strings
    (e.g. ``12.5`` in one sample and ``"CODE"`` in another) has dtype object, with floats and strings as cells.
    Missing scores are NaN.

    Args:
        path: the log file.

    Returns:
        The samples that the log holds. A log that stopped early (status ``error`` or ``cancelled``) gives the
        samples that were written; ``_log_status`` says which status the log had and ``_sample_error`` which
        samples failed.

    Raises:
        DataError: inspect_ai is not installed, or the file is missing, unreadable or not an eval log.

    Example:
        >>> from simstats.logs.inspect_reader import read_inspect_log
        >>> df = read_inspect_log("logs/2025-01-01T00-00-00_my-task_abc.eval")  # doctest: +SKIP
        >>> df[["sample_id", "epoch", "model", "output", "judge.aligned"]].head()  # doctest: +SKIP
    """
    file = str(path)
    _check_file(Path(file))  # first: these reasons need no inspect_ai (whose import takes seconds)
    try:
        from inspect_ai.log import read_eval_log
    except ImportError as exc:
        raise DataError(f"{_INSTALL_HINT} ({exc})", file=file) from None

    try:
        log = read_eval_log(file, resolve_attachments="core", exclude_fields=set(_SKIP_FIELDS))
    except Exception as exc:  # any failure inside inspect_ai means the file is not a readable eval log
        raise DataError(f"not a readable Inspect AI eval log ({_one_line(exc)})", file=file) from exc

    rows = [_sample_row(sample, log, file) for sample in log.samples or []]
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=[*BASE_COLUMNS, *_STATUS_COLUMNS])
    for column in df.columns:
        if column not in BASE_COLUMNS and column not in _STATUS_COLUMNS and not column.startswith("metadata."):
            df[column] = _tidy_score_column(df[column])
    df["epoch"] = df["epoch"].astype("int64")
    return df


def _check_file(path: Path) -> None:
    """Fail early, with a plain reason, on what inspect_ai would report cryptically."""
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    if path.stat().st_size == 0:
        raise DataError("file is empty, not an Inspect AI eval log", file=str(path))
    suffix = path.suffix.lower()
    if suffix not in (".eval", ".json"):
        raise DataError(f"unknown log format {suffix or '(no suffix)'!r}; expected a .eval or .json Inspect AI log",
                        file=str(path))
    if suffix == ".eval" and not zipfile.is_zipfile(path):
        raise DataError("not a zip archive (an .eval log is a zip file): corrupt or truncated", file=str(path))


def _sample_row(sample: Any, log: Any, file: str = "") -> dict[str, Any]:
    """One sample of an ``EvalLog`` as a flat dict (scores unflattened into their columns).

    Two scores that would fill one column (scorer ``a`` with a dict value ``{"b": ...}`` and a scorer named
    ``a.b``) raise :class:`DataError`: one would silently overwrite the other.
    """
    row: dict[str, Any] = {
        "sample_id": str(sample.id),
        "epoch": sample.epoch,
        "model": log.eval.model,
        "task": log.eval.task,
        "input": _input_text(sample.input),
        "output": sample.output.completion if sample.output is not None else "",
    }
    for scorer, score in (sample.scores or {}).items():
        # a scorer named like a fixed column (e.g. "input") must not overwrite it
        name = f"score.{scorer}" if scorer in _RESERVED or scorer.startswith("metadata.") else scorer
        value = score.value
        if isinstance(value, dict):
            cells = {f"{name}.{key}": _cell(v) for key, v in value.items()}
        elif isinstance(value, (list, tuple)):
            cells = {f"{name}.{index}": _cell(v) for index, v in enumerate(value)}
        else:
            cells = {name: _cell(value)}
        clash = sorted(cells.keys() & row.keys())
        if clash:
            raise DataError(f"two scores of sample {sample.id!r} fill the column {clash[0]!r} (a scorer named like "
                            "a part of another's dict or list value), so one would overwrite the other", file=file)
        row.update(cells)
    row.update({f"metadata.{key}": v for key, v in (sample.metadata or {}).items()})
    row["_log_status"] = log.status
    row["_sample_error"] = sample.error.message if sample.error is not None else ""
    return row


def _input_text(value: Any) -> str:
    """Prompt text of a sample: the string itself, or the text of its chat messages.

    A single message gives its text; several give ``role: text`` blocks separated by blank lines.
    """
    if isinstance(value, str):
        return value
    if len(value) == 1:
        return value[0].text
    return "\n\n".join(f"{message.role}: {message.text}" for message in value)


def _cell(value: Any) -> Any:
    """A score value as a cell: numbers and booleans as float, ``None`` as NaN, anything else unchanged."""
    if value is None:
        return float("nan")
    if isinstance(value, (bool, int, float)):
        return float(value)
    return value


def _tidy_score_column(column: pd.Series) -> pd.Series:
    """float64 where every cell is a number or missing, else object (floats and strings kept as they are)."""
    cells = column.tolist()
    if all(isinstance(cell, float) or cell is None for cell in cells):
        return column.astype("float64")
    return column.astype(object).where(column.notna(), float("nan"))


def _one_line(exc: BaseException) -> str:
    """``ExcType: first line of its message``, cut to a readable length."""
    errors = exc.errors() if type(exc).__name__ == "ValidationError" else []  # pydantic: name the field
    if errors:
        field = ".".join(str(part) for part in errors[0].get("loc", ()))
        return f"content is not an eval log: {field or 'document'}: {errors[0].get('msg', '')}"
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return message if len(message) <= 200 else message[:197] + "..."
