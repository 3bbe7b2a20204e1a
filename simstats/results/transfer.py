"""Reusable personas: fit a log with the fingerprints an earlier fit learned, as priors or held fixed.

A small log (tens of answers per condition) cannot learn K personas' fingerprints afresh: it spends its few answers
on what the personas look like and has little left for how often each speaks, and a persona may even come out as
something else (a "misaligned" persona with mean coherence 24). When the same judge scored a large log of the same
personas, its posterior fingerprints are the prior knowledge to bring: the new fit keeps each persona's emission
distribution from the large fit and learns its own shares.

:func:`transfer_spec` turns an earlier :class:`~simstats.results.FitResult` into a spec whose ``[fingerprints]
transfer`` holds, per measure (and the verdict), that fit's posterior (see
:func:`simstats.families.fingerprints.transfer_of`): ``mode = "prior"`` (the default) keeps the fingerprints free
under a prior matched to the earlier posterior, ``mode = "fixed"`` holds them at its mean (a plug-in: the earlier
fit's uncertainty is then ignored). It refuses a source whose personas, measures, families or grids differ, or whose
fit failed its diagnostics. The earlier fit's spec and data hashes are stored in ``[fingerprints] source``.

>>> big = simstats.fit("models/persona_mixture.toml", big_log, seed=1)          # doctest: +SKIP
>>> small = simstats.fit("models/persona_mixture.toml", small_log, fingerprints_from=big)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from simstats.errors import SpecError
from simstats.families.fingerprints import FAMILIES, category_labels, transfer_of
from simstats.graph.design import coarsen
from simstats.logs.patterns import Patterns
from simstats.results.fit_result import FitResult
from simstats.spec import ModelSpec


def _draws(result: FitResult, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chains and draws flattened into one leading axis."""
    a = np.asarray(result.posterior[name])
    return a.reshape(-1, *a.shape[2:])


def _refuse(source: str, why: str) -> SpecError:
    return SpecError(f"--fingerprints-from {source}: {why}")


def check_compatible(spec: ModelSpec, patterns: Patterns, source: FitResult, where: str = "the source fit"
                     ) -> Patterns:
    """The patterns coarsened as ``spec`` asks, after refusing (``SpecError``, one line) a source fit whose
    fingerprints cannot serve ``spec`` on ``patterns``: not a persona mixture, another list of personas (names and
    order: the first is the reference), a measure it did not fit or fitted with another family, another grid of a
    measure, or a failed fit."""
    if not source.model_kind.has_personas or not spec.personas:
        raise _refuse(where, "fingerprints are transferred between persona mixtures only "
                             f"(the source is model.kind = {source.spec.kind!r}, this spec {spec.kind!r})")
    mine, theirs = spec.persona_names, source.spec.persona_names
    if mine != theirs:
        raise _refuse(where, f"its personas {theirs} are not this spec's {mine} (same names in the same order: "
                             "the first is the reference)")
    src_measures = {m.name: m for m in source.spec.measures}
    coarse = coarsen(spec, patterns)
    grids = coarse.grids
    src_grids = source.data.patterns.grids
    for ms in spec.measures:
        if ms.name not in src_measures:
            raise _refuse(where, f"it did not fit measure {ms.name!r} (it fitted {sorted(src_measures)})")
        if src_measures[ms.name].likelihood != ms.likelihood:
            raise _refuse(where, f"{ms.name} has likelihood {src_measures[ms.name].likelihood!r} there and "
                                 f"{ms.likelihood!r} here")
        here, there = category_labels(grids[ms.name]), category_labels(src_grids[ms.name])
        if here != there:
            raise _refuse(where, f"{ms.name}'s categories differ (there {there[1:]}, here {here[1:]}): the "
                                 "fingerprints were learned on another grid or other levels")
    if source.diagnostics.status == "failed":
        raise _refuse(where, "its fit failed its diagnostics (" + "; ".join(source.diagnostics.messages[:2]) +
                             "): its fingerprints are not a posterior to reuse")
    return coarse


def transfer_spec(spec: ModelSpec, patterns: Patterns, source: FitResult | str | Path, *,
                  fixed: bool = False) -> ModelSpec:
    """``spec`` with the fingerprints of ``source`` (a fit or a saved run folder) as priors (``fixed``: held at
    their posterior mean), after :func:`check_compatible`. The verdict's fingerprints come too when both logs have
    the same verdict levels (else they keep their anchored prior, with a note in the report)."""
    where = str(source) if isinstance(source, (str, Path)) else "the source fit"
    if isinstance(source, (str, Path)):
        from simstats.results.store import load_result

        source = load_result(source)
    coarse = check_compatible(spec, patterns, source, where)
    mode = "fixed" if fixed else "prior"
    transfer: dict[str, dict] = {}
    post = source.posterior
    for ms in spec.measures:
        fam = FAMILIES[ms.likelihood]
        params = {f"fp_{ms.name}_{p}": _draws(source, f"fp_{ms.name}_{p}") for p in fam.params}
        transfer[ms.name] = transfer_of(fam, ms.name, _draws(source, f"fp_{ms.name}"), params, mode)
    levels_here = coarse.verdict_levels
    if levels_here and "fp_verdict" in post and source.data.verdict_levels == list(levels_here):
        transfer["verdict"] = transfer_of(FAMILIES["categorical"], "verdict", _draws(source, "fp_verdict"), {}, mode)
    fp = dataclasses.replace(spec.fingerprints, transfer=transfer,
                             source={"spec_hash": source.spec.hash(), "data_hash": source.patterns.data_hash(),
                                     "spec_name": source.spec.name})
    return dataclasses.replace(spec, fingerprints=fp)


__all__ = ["check_compatible", "transfer_spec"]
