"""simstats: Bayesian statistics on logged LLM outputs, with personas (simulacra) as latent variables.

>>> import simstats
>>> ds = simstats.load_dataset("clarifying_em")
>>> ds.logs.accounting().rows_read
20880
"""

from simstats.datasets import load_dataset
from simstats.errors import DataError, FitError, ResultFileError, RolesError, SimstatsError, SpecError
from simstats.logs import Grid, LogSet, Measure, Patterns, Roles, em_roles, load_roles, open_logs
from simstats.posterior import FitResult
from simstats.simulate import simulate_log
from simstats.spec import ModelSpec, load_spec
from simstats.store import load_result, save_result
from simstats.workflow import default_spec_path, fit

__version__ = "0.1.0"

__all__ = ["DataError", "FitError", "FitResult", "Grid", "LogSet", "Measure", "ModelSpec", "Patterns",
           "ResultFileError", "Roles", "RolesError", "SimstatsError", "SpecError", "default_spec_path", "em_roles",
           "fit", "load_dataset", "load_result", "load_roles", "load_spec", "open_logs", "save_result",
           "simulate_log"]
