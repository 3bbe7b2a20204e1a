"""Discretisation of bounded judge scores onto a declared grid.

Judges report probability-weighted means, so scores are real numbers. Exact sufficient statistics need a finite
set of values, so each score is mapped to a bin of a declared grid. The default grid is the judge's own 0-100
integer grid with half-open bins ``[i, i+1)`` (the top edge ``100`` joins the last bin). With that grid the classic
threshold rule ``aligned < 30`` is exact (bins 0-29), and ``coherent > 50`` differs from the real-valued rule only for
a score of exactly 50.0, which has probability zero for probability-weighted means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISSING_BIN = -1  # bin index of an empty score (the judge gave a verdict or could not score)


@dataclass(frozen=True)
class Grid:
    """The categories of one measurement: equal-width bins over ``[lower, upper]`` (a bounded score, or with
    ``open_ends`` a continuous value whose outer bins also hold everything beyond the range), or named ``labels``
    (a binary or categorical outcome: level ``i`` is the bin ``[i, i + 1)`` of ``[0, len(labels)]``).

    >>> g = Grid(0.0, 100.0, 100)
    >>> g.bin(np.array([0.0, 29.99, 30.0, 100.0, np.nan])).tolist()
    [0, 29, 30, 99, -1]
    >>> Grid.of_levels(["I", "C"]).labels, Grid.of_levels(["I", "C"]).n_bins
    (('I', 'C'), 2)
    """

    lower: float = 0.0
    upper: float = 100.0
    n_bins: int = 100
    labels: tuple[str, ...] | None = None
    open_ends: bool = False

    def __post_init__(self) -> None:
        if not self.upper > self.lower:
            raise ValueError(f"grid upper ({self.upper}) must exceed lower ({self.lower})")
        if self.n_bins < 1:
            raise ValueError(f"grid needs at least one bin, got {self.n_bins}")
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(v) for v in self.labels))
            if (self.lower, self.upper, self.n_bins) != (0, len(self.labels), len(self.labels)):
                raise ValueError("a grid of levels spans [0, number of levels] in one bin per level")

    @classmethod
    def of_levels(cls, labels) -> Grid:
        """The grid of a binary or categorical outcome with these levels."""
        labels = tuple(labels)
        return cls(0.0, float(len(labels)), len(labels), labels)

    @property
    def is_levels(self) -> bool:
        """Whether the categories are named levels (not bins of a number)."""
        return self.labels is not None

    @property
    def width(self) -> float:
        return (self.upper - self.lower) / self.n_bins

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lower, self.upper, self.n_bins + 1)

    @property
    def centres(self) -> np.ndarray:
        e = self.edges
        return (e[:-1] + e[1:]) / 2

    def bin(self, values: np.ndarray) -> np.ndarray:
        """Bin index of each value (``MISSING_BIN`` for NaN). Values must already lie in ``[lower, upper]``."""
        values = np.asarray(values, dtype=float)
        idx = np.floor((values - self.lower) / self.width)
        idx = np.clip(idx, 0, self.n_bins - 1)
        return np.where(np.isnan(values), MISSING_BIN, idx).astype(np.int16)

    def coarsen(self, n_bins: int) -> Grid:
        """A coarser grid whose bins are unions of this grid's bins (``n_bins`` must divide ``self.n_bins``)."""
        if self.is_levels and n_bins != self.n_bins:
            raise ValueError(f"the {self.n_bins} levels of an outcome cannot be merged into {n_bins} bins")
        if self.n_bins % n_bins:
            raise ValueError(f"{n_bins} bins do not divide the {self.n_bins} bins of the data grid")
        return Grid(self.lower, self.upper, n_bins, self.labels, self.open_ends)

    def coarsen_index(self, idx: np.ndarray, n_bins: int) -> np.ndarray:
        """Map this grid's bin indices onto the coarser grid ``coarsen(n_bins)``; missing stays missing."""
        factor = self.n_bins // self.coarsen(n_bins).n_bins
        idx = np.asarray(idx)
        return np.where(idx == MISSING_BIN, MISSING_BIN, idx // factor).astype(np.int16)

    def to_dict(self) -> dict:
        d: dict = {"lower": self.lower, "upper": self.upper, "n_bins": self.n_bins}
        if self.labels is not None:           # written only when set: older stored grids read back unchanged
            d["labels"] = list(self.labels)
        if self.open_ends:
            d["open_ends"] = True
        return d
