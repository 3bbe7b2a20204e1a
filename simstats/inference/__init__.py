"""Inference: :func:`fit` with a sampler switch (:mod:`.fit`, :mod:`.samplers`), the convergence diagnostics with one
status (:mod:`.diagnostics`), and compile-once refits for studies (:mod:`.refit`)."""

from simstats.inference.diagnostics import Diagnostics, approximate, diagnose
from simstats.inference.fit import FitOutput, check, check_settings, fit
from simstats.inference.samplers import MCMC, SAMPLERS

__all__ = ["MCMC", "SAMPLERS", "Diagnostics", "FitOutput", "approximate", "check", "check_settings", "diagnose", "fit"]

#: names this package had before the persona mixture's start moved to its kind (deprecated aliases)
_MOVED = {"em_start": "simstats.kinds.mixture.start", "em_condition_counts": "simstats.kinds.mixture.start",
          "EMResult": "simstats.kinds.mixture.start", "anchor_tables": "simstats.kinds.mixture.start",
          "labels_match_anchors": "simstats.kinds.mixture.tables"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"simstats.inference.{name} is deprecated; use {_MOVED[name]}.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'simstats.inference' has no attribute {name!r}")
