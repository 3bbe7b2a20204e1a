"""Every sampler of `simstats.fit` runs the same model and finds the same posterior as nutpie (no mocks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simstats.inference import fit
from simstats.kinds.mixture.tables import condition_shares
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation import simulate_log

SPEC = load_spec(DEFAULT_SPEC_PATH)


@pytest.fixture(scope="module")
def data_and_reference():
    pats, truth = simulate_log(SPEC, n_conditions=2, n_prompts=3, answers_per_cell=80, seed=11)
    ref = _fit(pats, "nutpie", draws=300)
    return pats, condition_shares(ref.idata.posterior, ref.data).reshape(-1, 2, len(SPEC.personas))


def _fit(pats, sampler, draws=150):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # short chains: "did not converge" is expected
        return fit(SPEC, pats, sampler=sampler, draws=draws, tune=150, chains=2, seed=3, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "numpyro", "blackjax"])
def test_mcmc_samplers_agree_with_nutpie(sampler, data_and_reference):
    """Posterior mean shares within 4 posterior sds of nutpie's (two MCMC estimates of one posterior differ by
    ~0.15 sd at these ESS; a wrong likelihood or transform moves them by many sds)."""
    pats, ref = data_and_reference
    out = _fit(pats, sampler)
    assert out.sampler == sampler and out.diagnostics.checked
    sh = condition_shares(out.idata.posterior, out.data).reshape(-1, 2, len(SPEC.personas))
    assert sh.shape[0] == 2 * 150
    sd = ref.std(0)
    assert np.all(np.abs(sh.mean(0) - ref.mean(0)) < 4 * sd + 0.01), (sh.mean(0).round(3), ref.mean(0).round(3))
    assert not out.diagnostics.label_switching


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["advi", "pathfinder"])
def test_approximations_are_flagged_and_close(sampler, data_and_reference):
    """ADVI / pathfinder give shares near the MCMC ones but are never reported as converged."""
    pats, ref = data_and_reference
    out = _fit(pats, sampler, draws=200)
    assert not out.converged and not out.diagnostics.checked and out.diagnostics.status == "warning"
    sh = condition_shares(out.idata.posterior, out.data).reshape(-1, 2, len(SPEC.personas))
    # mean-field / single-path approximations: means within 0.08 of MCMC's on shares of 0.02-0.9
    assert np.all(np.abs(sh.mean(0) - ref.mean(0)) < 0.08), (sh.mean(0).round(3), ref.mean(0).round(3))


def test_unknown_sampler_is_a_clear_error():
    from simstats.errors import SpecError

    pats, _ = simulate_log(SPEC, n_conditions=1, n_prompts=1, answers_per_cell=5, seed=0)
    with pytest.raises(SpecError, match="unknown sampler 'stan'"):
        fit(SPEC, pats, sampler="stan")
