"""Frequentist cross-check: the persona model's posterior against StepMix's maximum-likelihood fit of the same
pattern counts (the likelihood itself, checked by a second, independent program).

Tolerances of the fitted comparison, and why the simulated log is shaped as it is:

- The two programs' log-likelihoods at the same parameters (the MLE, mapped into the persona model's parameters)
  must agree to 1e-9 relative: they are the same function or one of them is wrong.
- No posterior draw may have a higher log-likelihood than the MLE, and the mean deficit of the draws must be near
  d/2 (d free likelihood parameters): with a flat-ish prior, 2 x deficit is about chi-square(d). The test allows
  d/4 .. d (a wrong term or normalisation moves it by orders of magnitude; prior and higher-order terms by a few).
- Every quantity's |posterior mean - MLE| <= 3 posterior sd: the two differ by O(1/n) while the sd is O(1/sqrt n),
  so the expected |difference| is a small fraction of a sd (plus the Monte-Carlo error, about 0.1 sd here), except
  where the next paragraph says.
- The truth within 4 posterior sds of both (the MLE's sampling sd is about the posterior sd, Bernstein-von Mises).

That O(1/n) argument needs an MLE inside the parameter space with many answers behind every parameter. With the
default simulated fingerprints (sharp Beta bumps, most bins of a persona empty) the MLE of those bin probabilities is
exactly 0, on the boundary, where the posterior keeps mass; a mean score adds these pulls up with one sign (towards
the middle of the scale). Measured while writing this test, at 7,200 and again at 36,000 answers, the posterior mean
aligned score of the misaligned persona sat 2.4 posterior sds above the MLE, not shrinking with n. So the simulated
fingerprints here have a floor (3% spread over all categories: no empty bin) and the log has 20,000 answers per cell
(cheap: the fit's cost grows with the number of unique patterns, at most 11 x 11 per cell, not with answers). The
mean scores stay the quantities nearest the bound even so (a persona's far bins hold few answers, most of which
could as well be another persona's): with this log and seed the largest |difference| / sd was 2.17 (a mean score),
against 0.97 for the shares and 1.03 for the no-score rates, and the truth was within 2.9 posterior sds of the
posterior means. ``scripts/stepmix_crosscheck.py`` runs the default fingerprints and reports whatever it finds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("stepmix")

from simstats.inference import fit  # noqa: E402
from simstats.logs.grid import Grid  # noqa: E402
from simstats.spec import DEFAULT_SPEC_PATH, load_spec  # noqa: E402
from simstats.validation import default_fingerprints, simulate_log  # noqa: E402
from simstats.validation.crosscheck import COLUMNS, _stepmix, agreement, stepmix_crosscheck  # noqa: E402

SPEC = load_spec(DEFAULT_SPEC_PATH)
SHARES = np.array([[0.55, 0.15, 0.15, 0.15], [0.4, 0.3, 0.15, 0.15], [0.45, 0.1, 0.2, 0.25]])
ETA = np.log(SHARES) - np.log(SHARES[:, :1])
FLOOR = 0.03


def test_weighted_covariate_step_equals_stock_step_on_expanded_rows():
    """The weighted Newton step given to StepMix equals StepMix's own step on the rows expanded by their weights
    (StepMix's step with ``sample_weight`` does not: it weights the responsibilities only)."""
    _, WeightedCovariate = _stepmix()
    from stepmix.emission.covariate import Covariate

    rng = np.random.default_rng(0)
    n, D, K = 40, 3, 4
    X = (rng.uniform(size=(n, D)) < 0.5).astype(float)
    resp = rng.dirichlet(np.ones(K), n)
    w = rng.integers(1, 6, n)
    beta = rng.normal(0, 0.3, (K, D + 1))
    weighted, stock = WeightedCovariate(n_components=K, random_state=0), Covariate(n_components=K, random_state=0)
    weighted.parameters["beta"], stock.parameters["beta"] = beta.copy(), beta.copy()
    weighted.m_step(X, resp * w[:, None])
    stock.m_step(np.repeat(X, w, axis=0), np.repeat(resp, w, axis=0))
    np.testing.assert_allclose(weighted.parameters["beta"], stock.parameters["beta"], rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_posterior_means_agree_with_stepmix_mle():
    grids = {m: Grid(0.0, 100.0, 10) for m in SPEC.measure_names}
    fps = {m: (1 - FLOOR) * f + FLOOR / f.shape[1] for m, f in default_fingerprints(SPEC, grids).items()}
    pats, truth = simulate_log(SPEC, n_conditions=3, n_prompts=3, answers_per_cell=20000, eta=ETA,
                               fingerprints=fps, prompt_sd=0.3, coef_sd=0.3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # short CI chains: the full R-hat gate is for real fits
        out = fit(SPEC, pats, chains=2, draws=300, tune=300, seed=5, progress=False)
    table = stepmix_crosscheck(SPEC, pats, out, truth=truth, n_init=2, seed=0)
    assert list(table.columns) == [*COLUMNS, "truth"]
    assert len(table) == 2 * 4 * 2 + 3 * 4
    a = table.attrs

    # the same likelihood in both programs, and the MLE is its maximum
    assert a["loglik_model_at_mle"] == pytest.approx(a["loglik_stepmix"], rel=1e-9)
    assert a["converged"]
    assert a["loglik_draws_max"] <= a["loglik_stepmix"] + 1e-6 * abs(a["loglik_stepmix"])
    d = a["n_parameters"]
    assert d / 4 < a["mean_deficit"] < d, (a["mean_deficit"], d)

    # every quantity: posterior mean and MLE within 3 posterior sds; the truth within 4 of both
    assert (table["z"].abs() <= 3).all(), table.loc[table["z"].abs() > 3, ["quantity", "z"]]
    sd = table["posterior_sd"]
    assert ((table["truth"] - table["posterior_mean"]).abs() <= 4 * sd).all()
    assert ((table["truth"] - table["mle"]).abs() <= 4 * sd).all()
    summary = agreement(table)
    assert summary.loc["all", "within"] == len(table)
