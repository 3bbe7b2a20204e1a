"""Old module paths, kept as deprecated aliases of the modules that now hold their names.

Before the package was split into layers, every module sat at the top (``simstats.builders``, ``simstats.posterior``,
``simstats.simulate``, ...). Importing one of those paths still works: it gives a module whose attributes are looked
up in the new modules, with a :class:`DeprecationWarning` naming where they live now. A few functions whose
signature changed have a wrapper here with the old one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module -> the modules that hold its names now (searched in order)
ALIASES: dict[str, tuple[str, ...]] = {
    "simstats.builders": ("simstats._compat", "simstats.graph.design", "simstats.graph.names", "simstats.graph.terms",
                          "simstats.kinds", "simstats.kinds.mixture.tables", "simstats.kinds.mixture.graph"),
    "simstats.likelihoods": ("simstats.families.fingerprints", "simstats.families.bins", "simstats.graph.kernel"),
    "simstats.formalism": ("simstats.theory.formalism",),
    "simstats.degradation": ("simstats._compat", "simstats.kinds.degradation"),
    "simstats.diagnostics": ("simstats.inference.diagnostics",),
    "simstats.posterior": ("simstats.results.fit_result",),
    "simstats.store": ("simstats.results.store", "simstats.spec"),
    "simstats.compare": ("simstats.results.compare",),
    "simstats.workflow": ("simstats.results.workflow", "simstats.spec"),
    "simstats.simulate": ("simstats.validation.simulate", "simstats.validation.design", "simstats.validation.quick"),
    "simstats.calibration": ("simstats.validation.calibration",),
    "simstats.crosscheck": ("simstats.validation.crosscheck",),
    "simstats.refit": ("simstats.inference.refit",),
    "simstats.rate_model": ("simstats.results.rates", "simstats.report.rates", "simstats.plots.rates",
                            "simstats.presets"),
    "simstats.html": ("simstats.report.html",),
    "simstats.summary": ("simstats.report.summary",),
    "simstats.demo": ("simstats.report.demo",),
    "simstats.cli_format": ("simstats.report.text",),
}


def _alias_module(name: str) -> ModuleType:
    mod = ModuleType(name, f"Deprecated alias of {', '.join(ALIASES[name])}.")
    targets = ALIASES[name]

    def __getattr__(attr: str):
        for target in targets:
            module = importlib.import_module(target)
            if hasattr(module, attr) and not (target == "simstats._compat" and attr not in _WRAPPED.get(name, ())):
                warnings.warn(f"{name}.{attr} is deprecated; use {target}.{attr}", DeprecationWarning, stacklevel=2)
                return getattr(module, attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r} (it moved: see {', '.join(targets)})")

    mod.__getattr__ = __getattr__                # PEP 562: looked up in the module's namespace
    return mod


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module paths of :data:`ALIASES` and makes them alias modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return _alias_module(spec.name)

    def exec_module(self, module):
        warnings.warn(f"{module.__name__} is deprecated; its names now live in {', '.join(ALIASES[module.__name__])}",
                      DeprecationWarning, stacklevel=2)


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())


# --------------------------------------------------------------------------- wrappers with the old signatures
#: names of this module that an alias serves (old functions whose signature changed)
_WRAPPED = {"simstats.builders": ("build_model", "pattern_log_likelihood", "adaptive_centring", "fingerprint_tables",
                                  "pattern_log_emissions"),
            "simstats.degradation": ("pattern_log_likelihood", "initial_point")}


def _kind_of_posterior(posterior):
    from simstats.kinds import degradation, mixture

    return degradation.KIND if degradation.THETA in posterior and "eta" not in posterior else mixture.KIND


def build_model(spec, patterns, *, rows=False, data=None, centring=None):
    """``simstats.kinds.build_model`` (the old ``data.centred_condition`` is now the ``centring`` argument)."""
    from simstats.kinds import build_model as build

    return build(spec, patterns, rows=rows, data=data, centring=centring)


def pattern_log_likelihood(posterior, data):
    """The old ``pattern_log_likelihood(posterior, data)``: the kind is read off the posterior's variables."""
    return _kind_of_posterior(posterior).pattern_log_likelihood(posterior, None, data)


def adaptive_centring(data, expected_counts, min_count: float = 10.0):
    """The old ``adaptive_centring(data, expected_counts)``."""
    from simstats.kinds.mixture.start import adaptive_centring as centring

    return centring(expected_counts, min_count)


def fingerprint_tables(posterior, data, measure):
    """Each condition's fingerprint of ``measure``: (chain, draw, condition, K, categories)."""
    import numpy as np

    from simstats.kinds.mixture.tables import fingerprint_units

    table, _ = fingerprint_units(posterior, data, measure)
    return np.broadcast_to(table, (*table.shape[:-3], len(data.conditions), *table.shape[-2:]))


def pattern_log_emissions(posterior, data):
    """log prod_m fp_m[k, y_m] per draw and pattern: (chain, draw, pattern, K)."""
    from simstats.kinds.base import _log_emission
    from simstats.kinds.mixture.tables import emissions

    return _log_emission(emissions(posterior, None, data), data)


def initial_point(spec, data):
    """The old degradation ``initial_point(spec, data)``: the start values."""
    from simstats.kinds.degradation import start

    return start(spec, data).values


__all__ = ["ALIASES", "install"]
