"""Typed errors.

Every error a user can cause derives from :class:`SimstatsError`; the CLI turns these into one line on stderr and
exit status 2, so a user never sees a traceback for their own mistake.
"""

from __future__ import annotations

import threading

#: Set by the CLI's SIGINT / SIGTERM handler. Samplers (nutpie, PyMC) catch the KeyboardInterrupt and return the
#: draws so far, sometimes padded to full length; the fit checks this flag after sampling, so that an interrupt is
#: passed on whatever the sampler returned.
INTERRUPTED = threading.Event()


class SimstatsError(Exception):
    """Base class of every user-facing error in simstats."""


class DataError(SimstatsError):
    """Bad input data; names the file, the (1-based) row and the column where known.

    Row numbers count data rows from 1 (a CSV's header is not a row; a JSONL file's first line is row 1).
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.row, self.column, self.reason = file, row, column, message
        where = []
        if file is not None:      # a path with a newline in it would make the message more than one line
            where.append(s if (s := str(file)).isprintable() else repr(s))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class RolesError(SimstatsError):
    """The role mapping (which column plays which part) is inconsistent or does not fit the data."""


class SpecError(SimstatsError):
    """A model spec file is malformed or asks for something unknown."""


class FitError(SimstatsError):
    """A fit failed or did not converge in a way that makes its result unusable."""


class ResultFileError(SimstatsError):
    """A saved result is damaged, tampered with, or does not match the spec/data/versions it claims."""
