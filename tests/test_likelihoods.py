"""The binned score distributions (:mod:`simstats.families`): the logit-normal's bin masses against SciPy's
normal CDF, its PyTensor graph against its NumPy mirror (values and gradients), its moments against Monte Carlo,
and the degradation model's NumPy log-likelihood (used for LOO) against the PyMC graph it mirrors, for both shapes.

No sampler: these are identities between two implementations of the same function, checked at fixed points.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from simstats.families.bins import (logit_edges, logit_normal_bin_probs, logit_normal_bins_pt,
                                    logit_normal_moments)
from simstats.families.fingerprints import FAMILIES, Anchor
from simstats.logs.grid import Grid
from simstats.spec import DEFAULT_SPEC_PATH, load_spec

GRID = Grid(0.0, 100.0, 10)
LOC = np.array([-6.0, -1.0, 0.0, 2.5, 8.0])          # far below, inside and far above the grid
SCALE = np.array([0.5, 1.0, 2.5, 0.3, 0.7])


def test_logit_normal_bin_masses_match_scipy_and_keep_tiny_masses():
    probs = logit_normal_bin_probs(GRID, LOC, SCALE)
    edges = np.concatenate([[-np.inf], logit_edges(GRID), [np.inf]])
    ref = np.diff(stats.norm.cdf((edges[None] - LOC[:, None]) / SCALE[:, None]), axis=1)
    assert np.allclose(probs, ref, atol=1e-15)
    assert np.allclose(probs.sum(-1), 1.0, atol=1e-14)
    # bin 3 of a location 12 sds below the grid: SciPy's CDF difference cancels to 0, the survival difference
    # keeps it (relative precision is what a log-likelihood of a rare answer needs)
    tiny = probs[0, 3]
    assert ref[0, 3] == 0.0 and 0 < tiny < 1e-20
    z = (logit_edges(GRID)[2:4] + 6.0) / 0.5
    assert tiny == pytest.approx(stats.norm.sf(z[0]) - stats.norm.sf(z[1]), rel=1e-10)


def test_logit_normal_pytensor_graph_matches_numpy_in_values_and_gradients():
    import pytensor
    import pytensor.tensor as pt

    loc, scale = pt.dvector("loc"), pt.dvector("scale")
    bins = logit_normal_bins_pt(loc[:, None], scale[:, None], GRID)
    weights = np.arange(1.0, 11.0)                  # any fixed linear functional of the log masses
    objective = pt.sum(pt.log(bins) * weights)
    value = pytensor.function([loc, scale], bins)
    grad = pytensor.function([loc, scale], pytensor.grad(objective, [loc, scale]))
    assert np.allclose(value(LOC, SCALE), np.clip(logit_normal_bin_probs(GRID, LOC, SCALE), 1e-300, 1), rtol=1e-12)

    def f(lc, sc):
        return float((np.log(logit_normal_bin_probs(GRID, lc, sc)) * weights).sum())

    g_loc, g_scale = grad(LOC, SCALE)
    h = 1e-6
    for i in range(len(LOC)):
        e = np.eye(len(LOC))[i] * h
        assert g_loc[i] == pytest.approx((f(LOC + e, SCALE) - f(LOC - e, SCALE)) / (2 * h), rel=1e-5, abs=1e-4)
        assert g_scale[i] == pytest.approx((f(LOC, SCALE + e) - f(LOC, SCALE - e)) / (2 * h), rel=1e-5, abs=1e-4)
    assert np.isfinite(g_loc).all() and np.isfinite(g_scale).all()


def test_logit_normal_moments_match_monte_carlo():
    rng = np.random.default_rng(0)
    for loc, scale in [(0.0, 1.0), (2.5, 0.4), (-1.0, 2.5)]:
        y = special.expit(rng.normal(loc, scale, 400_000))
        mean, sd = logit_normal_moments(np.array(loc), np.array(scale))
        # Monte Carlo se of the mean is sd / sqrt(n) < 7e-4; 4 se
        assert float(mean) == pytest.approx(y.mean(), abs=3e-3)
        assert float(sd) == pytest.approx(y.std(), abs=3e-3)


def test_logit_normal_fingerprint_family_builds_starts_and_reproduces_its_table():
    """The family also serves the persona mixture: its start values reproduce a table's location and spread."""
    import pymc as pm

    fam = FAMILIES["binned_logit_normal"]
    anchors = [Anchor(90.0, 0.02), Anchor(20.0, 0.1)]
    table = fam.prior_table(GRID, anchors, 10.0)
    assert table.shape == (2, 11) and np.allclose(table.sum(-1), 1.0)
    with pm.Model(coords={"persona": ["a", "b"], "cat": list(range(11))}) as model:
        fp = fam.build("aligned", GRID, anchors, 10.0, "persona", "cat")
    start = fam.initial_values("aligned", GRID, table)
    got = model.compile_fn(fp, inputs=[model[k] for k in start], on_unused_input="ignore")(start)
    assert np.allclose(got[:, 0], table[:, 0], atol=1e-9)                    # no-score rate exactly
    mean_got = (got[:, 1:] * GRID.centres).sum(-1) / got[:, 1:].sum(-1)
    mean_tab = (table[:, 1:] * GRID.centres).sum(-1) / table[:, 1:].sum(-1)
    assert np.allclose(mean_got, mean_tab, atol=3.0)       # moments of bin centres: within a third of a bin


@pytest.mark.parametrize("shape", ["binned_logit_normal", "binned_beta"])
def test_degradation_numpy_loglik_equals_the_pymc_graph(shape):
    """``degradation.KIND.pattern_log_likelihood`` (what LOO uses) times the counts equals the model's ``loglik``
    potential at a random point, for both score distributions."""
    from simstats.kinds import build_model, kind_of
    from simstats.logs import load_roles, open_logs
    from simstats.validation import Design, simulate

    spec = load_spec(DEFAULT_SPEC_PATH.parent / "degradation.toml")
    spec = dataclasses.replace(spec, measures=tuple(dataclasses.replace(m, likelihood=shape) for m in spec.measures))
    design = Design(levels=("model",), groups=(3,), baseline=None, questions=3,
                    features={"format": ("plain", "json")}, answers=20)
    sim = simulate(spec, design=design, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        paths = sim.write(Path(tmp) / "sim.csv")
        patterns = open_logs(paths["log"], load_roles(paths["roles"])).patterns()
    model, data = build_model(spec, patterns)
    assert data.measure_likelihood == {"aligned": shape, "coherent": shape}
    rng = np.random.default_rng(1)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    names = [n for n in ("theta_condition", "gamma_location", "u_location") if n in model.named_vars]
    outs = model.replace_rvs_by_values([model["loglik"], *[model[n] for n in names]])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    graph_ll, *vals = fn(point)
    post = {n: np.asarray(v)[None, None] for n, v in zip(names, vals)}
    numpy_ll = float((kind_of(spec).pattern_log_likelihood(post, spec, data)[0, 0] * data.count).sum())
    assert np.isfinite(graph_ll)
    assert numpy_ll == pytest.approx(float(graph_ll), rel=1e-10)
