"""The public one-call workflow: ``simstats.fit(spec, data)`` → :class:`~simstats.results.FitResult`.

Accepts a spec as a path, a :class:`ModelSpec` or ``None`` (the default persona mixture), and data as
:class:`Patterns`, a :class:`LogSet`, a bundled :class:`Dataset`, log paths (with roles), or ``None`` (the bundled
clarifying-em logs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simstats.errors import FitError
from simstats.logs import LogSet, Patterns, Roles, open_logs
from simstats.results.fit_result import FitResult
from simstats.spec import ModelSpec, default_spec_path, load_spec


def resolve_spec(spec: ModelSpec | str | Path | None) -> ModelSpec:
    if spec is None:
        return load_spec(default_spec_path())
    if isinstance(spec, ModelSpec):
        return spec
    return load_spec(spec)


def resolve_patterns(data: Any, roles: Roles | None = None) -> Patterns:
    from simstats.datasets import Dataset, load_dataset

    if data is None:
        return load_dataset().patterns
    if isinstance(data, Patterns):
        return data
    if isinstance(data, (LogSet, Dataset)):
        return data.patterns() if isinstance(data, LogSet) else data.patterns
    if isinstance(data, (str, Path, list, tuple)):
        from simstats.logs import em_roles

        return open_logs(data if isinstance(data, (list, tuple)) else [data], roles or em_roles()).patterns()
    raise TypeError(f"cannot fit data of type {type(data).__name__}; give Patterns, a LogSet, a Dataset or paths")


def fit(spec: ModelSpec | str | Path | None = None, data: Any = None, *, roles: Roles | None = None,
        sampler: str | None = None, draws: int | None = None, tune: int | None = None, chains: int | None = None,
        seed: int | None = None, progress: bool = True, require_converged: bool = False,
        fingerprints_from: FitResult | str | Path | None = None, fingerprints_fixed: bool = False,
        until: str | None = None) -> FitResult:
    """Fit a persona model to logs and return the fitted result.

    ``sampler`` is one of ``nutpie`` (default), ``pymc``, ``numpyro``, ``blackjax``, ``advi``, ``pathfinder``;
    the spec's ``[sampler]`` table gives the defaults of the other settings. A ``seed`` makes draws reproducible.
    With ``require_converged=True`` a fit whose diagnostics status is ``failed`` raises :class:`FitError`.
    ``fingerprints_from`` (a fit, or a saved run folder) reuses its personas: its posterior fingerprints become the
    priors of this fit (``fingerprints_fixed``: held at their posterior mean), see
    :mod:`simstats.results.transfer`; a run whose personas or measures do not match is refused.

    Sampling stops at the convergence gate (R-hat <= 1.01, bulk and tail ESS >= 400), checked every
    ``[sampler] block`` draws per chain, within the spec's ``draws`` per chain; ``draws`` given here forces exactly that
    many, unless ``until="gate"`` makes it the budget. ``result.sampling_dict()`` says where and why sampling stopped.

    >>> import simstats                                     # doctest: +SKIP
    >>> result = simstats.fit(data=simstats.load_dataset("clarifying_em"), seed=1)   # doctest: +SKIP
    >>> result.shares().xs("misaligned", level="persona")    # doctest: +SKIP
    """
    from simstats import inference

    inference.check_settings(draws, tune, chains, seed)     # before the spec and the data are read
    s = resolve_spec(spec)
    pats = resolve_patterns(data, roles)
    if fingerprints_from is not None:
        from simstats.results.transfer import transfer_spec

        s = transfer_spec(s, pats, fingerprints_from, fixed=fingerprints_fixed)
    out = inference.fit(s, pats, sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed,
                        progress=progress, until=until)
    result = FitResult(out.idata, out.spec, pats, out.sampler, dict(out.timings),   # the spec the ladder ended on
                       {"seed": seed, "draws": draws, "tune": tune, "chains": chains,
                        "target_accept": out.settings["target_accept"], "ladder": out.settings["ladder"],
                        "until": out.settings["until"], "drawn": out.settings["draws"],
                        "budget": out.settings["budget"], "gate": out.settings["gate"],
                        **({"fingerprints_from": str(fingerprints_from)}
                           if isinstance(fingerprints_from, (str, Path)) else {})})
    result.__dict__["diagnostics"] = out.diagnostics      # computed once by the fit (cached_property slot)
    if require_converged and result.diagnostics.status == "failed":
        raise FitError("the fit did not converge: " + "; ".join(result.diagnostics.messages))
    return result
