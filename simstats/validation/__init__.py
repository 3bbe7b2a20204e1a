"""Validation: simulated logs from a model's generative process (:mod:`.simulate`, the quick pattern-level
:mod:`.quick`, both drawing through :mod:`.draw`; designs in :mod:`.design`), interval coverage and simulation-based
calibration (:mod:`.calibration`), and the StepMix cross-check (:mod:`.crosscheck`)."""

from simstats.validation.design import Design
from simstats.validation.quick import Truth, default_fingerprints, simulate_log
from simstats.validation.simulate import Simulation, read_truth, simulate

__all__ = ["Design", "Simulation", "Truth", "default_fingerprints", "read_truth", "simulate", "simulate_log"]
