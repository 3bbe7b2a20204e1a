"""Every figure that applies to a fit, from one registry, written in every format with deterministic bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.plots.comparison import plot_model_comparison
from simstats.plots.fingerprints import plot_fingerprints
from simstats.plots.plane import plot_answer_plane
from simstats.plots.ppc import plot_ppc
from simstats.plots.questions import plot_question_shifts
from simstats.plots.rates import plot_threshold_rates
from simstats.plots.shares import plot_persona_shares
from simstats.plots.style import paper_style

FORMATS = ("png", "pdf", "svg")
_SAVE_METADATA = {"pdf": {"CreationDate": None, "ModDate": None}, "svg": {"Date": None}, "png": {}}


@dataclass(frozen=True)
class Figure:
    """A figure of the registry: its file ``name``, whether it ``applies`` to a fit (given the write options) and
    how to ``make`` it: ``(stem, figure)`` pairs (a figure per measure has several)."""

    name: str
    applies: Callable[[Any, dict], bool]
    make: Callable[[Any, dict], list[tuple[str, Any]]]


def _plane_measures(result) -> list[str] | None:
    """The two measures of the first behaviour, when it has two scores (the answer plane's axes)."""
    b = result.behaviours[0] if result.behaviours else None
    if b is None or len(b.measures) != 2 or any(result.data.patterns.grids[m].is_levels for m in b.measures):
        return None
    return b.measures


def _personas(result, opts) -> bool:
    return result.model_kind.has_personas


#: every figure simstats writes, in order
REGISTRY: tuple[Figure, ...] = (
    Figure("persona_shares", _personas, lambda r, o: [("persona_shares", plot_persona_shares(r))]),
    Figure("fingerprints", _personas, lambda r, o: [("fingerprints", plot_fingerprints(r))]),
    Figure("question_shifts", lambda r, o: _personas(r, o) and not r.question_shifts().empty,
           lambda r, o: [("question_shifts", plot_question_shifts(r))]),
    Figure("ppc", _personas, lambda r, o: [(f"ppc_{m}", plot_ppc(r, measure=m, seed=o["seed"]))
                                           for m in r.data.measures]),
    Figure("threshold_rates", lambda r, o: bool(r.behaviours),
           lambda r, o: [("threshold_rates", plot_threshold_rates(r, published=o["published"]))]),
    Figure("answer_plane", lambda r, o: _personas(r, o) and o["rows"] is not None and _plane_measures(r) is not None,
           lambda r, o: [("answer_plane", plot_answer_plane(r, o["rows"], seed=o["seed"]))]),
    Figure("model_comparison", lambda r, o: o["comparison"] is not None,
           lambda r, o: [("model_comparison", plot_model_comparison(o["comparison"]))]),
)
FIGURES = tuple(f.name for f in REGISTRY)


def is_figure_folder(path: Path) -> bool:
    """Whether ``path`` holds only figure files simstats writes (``<figure>.<png|pdf|svg>``)."""
    stems = set(FIGURES) | {"rate_model"}
    if not path.is_dir():
        return False
    for f in path.iterdir():
        stem, _, fmt = f.name.rpartition(".")
        if not (f.is_file() and fmt in FORMATS and (stem in stems or stem.startswith("ppc_"))):
            return False
    return True


def write_figures(result, folder: str | Path, *, rows: pd.DataFrame | None = None,
                  formats: Sequence[str] = FORMATS, published=None, comparison: pd.DataFrame | None = None,
                  figures: Sequence[str] | None = None, seed: int = 0) -> list[Path]:
    """Write every figure of :data:`REGISTRY` that applies to ``folder`` in each of ``formats``; return the paths.

    Figures: ``persona_shares``, ``fingerprints``, ``question_shifts`` (if the model has question effects),
    ``ppc_<measure>`` (one per measure), ``threshold_rates`` (when the fit counts a behaviour; with
    ``published``), ``answer_plane`` (when ``rows`` from ``LogSet.rows()`` are given and the behaviour is on two
    measures), ``model_comparison`` (when an ``az.compare`` table is given). ``figures`` restricts the set (names
    as in :data:`FIGURES`); a model without personas gets no persona figure.

    Output is byte-reproducible for a ``seed``: fixed SVG id salt, no dates in PDF / SVG metadata, seeded draws.

    >>> write_figures(result, "figures", rows=load_dataset().logs.rows(), formats=("pdf",))  # doctest: +SKIP
    """
    if isinstance(formats, str):
        formats = formats.split(",")
    fmts = [str(f).strip().lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise SimstatsError(f"unsupported format(s) {bad or formats!r}; choose from {', '.join(FORMATS)}")
    wanted = list(FIGURES if figures is None else [figures] if isinstance(figures, str) else figures)
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        raise SimstatsError(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise SimstatsError(f"seed must be a whole number from 0 to 2^32 - 1, got {seed!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    opts = {"rows": rows, "published": published, "comparison": comparison, "seed": seed}
    paths: list[Path] = []
    for fig in REGISTRY:
        if fig.name in wanted and fig.applies(result, opts):
            for stem, made in fig.make(result, opts):
                paths += save_figure(made, folder, stem, formats=fmts)
    return paths


def save_figure(fig, folder: str | Path, stem: str, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``folder/stem.<format>`` for each format (PNG, PDF, SVG) in the paper style, with
    deterministic metadata (no creation date), so the same figure gives the same files; return the paths.

    >>> save_figure(plot_persona_shares(result), "figures", "shares", formats=("pdf",))   # doctest: +SKIP
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with paper_style():
        for f in formats:
            f = f.lower().lstrip(".")
            if f not in FORMATS:
                raise ValueError(f"unsupported format {f!r}; choose from {FORMATS}")
            p = folder / f"{stem}.{f}"
            fig.savefig(p, format=f, metadata=_SAVE_METADATA[f], bbox_inches="tight", pad_inches=0.03)
            paths.append(p)
    return paths


__all__ = ["FIGURES", "FORMATS", "REGISTRY", "Figure", "is_figure_folder", "save_figure", "write_figures"]
