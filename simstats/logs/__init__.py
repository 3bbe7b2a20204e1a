"""The logs layer: read logged LLM outputs, map columns onto roles, validate, account for rows, aggregate."""

from simstats.logs.aggregate import LogSet, open_logs
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.patterns import Accounting, Patterns
from simstats.logs.roles import EM_PROMPT_REGEX, Measure, Roles, em_roles, load_roles

__all__ = [
           "EM_PROMPT_REGEX",
           "MISSING_BIN",
           "Accounting",
           "Grid",
           "LogSet",
           "Measure",
           "Patterns",
           "Roles",
           "em_roles",
           "load_roles",
           "open_logs",
]
