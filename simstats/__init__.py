"""simstats: Bayesian statistics on logged LLM outputs, with personas (simulacra) as latent variables.

>>> import simstats
>>> ds = simstats.load_dataset("clarifying_em")
>>> ds.logs.accounting().rows_read
20880

The public names are loaded on first use (``import simstats`` stays fast, so the command line starts at once).
"""

from __future__ import annotations

import importlib
from typing import Any

from simstats import _compat
from simstats.errors import DataError, FitError, ResultFileError, RolesError, SimstatsError, SpecError

_compat.install()

__version__ = "0.1.0"

#: public name -> the module that defines it
_API = {
    "load_dataset": "simstats.datasets",
    "Grid": "simstats.logs", "LogSet": "simstats.logs", "Measure": "simstats.logs", "Patterns": "simstats.logs",
    "Roles": "simstats.logs", "em_roles": "simstats.logs", "load_roles": "simstats.logs",
    "open_logs": "simstats.logs",
    "FitResult": "simstats.results.fit_result",
    "load_result": "simstats.results.store", "save_result": "simstats.results.store",
    "fit": "simstats.results.workflow",
    "ModelSpec": "simstats.spec", "default_spec_path": "simstats.spec", "load_spec": "simstats.spec",
    "simulate_log": "simstats.validation.quick",
}

__all__ = ["DataError", "FitError", "FitResult", "Grid", "LogSet", "Measure", "ModelSpec", "Patterns",
           "ResultFileError", "Roles", "RolesError", "SimstatsError", "SpecError", "default_spec_path", "em_roles",
           "fit", "load_dataset", "load_result", "load_roles", "load_spec", "open_logs", "save_result",
           "simulate_log"]


assert set(__all__) == set(_API) | {"DataError", "FitError", "ResultFileError", "RolesError", "SimstatsError",
                                    "SpecError"}


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value                # looked up once
        return value
    raise AttributeError(f"module 'simstats' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
