"""Tests of simstats.theory.formalism: closed forms, limiting cases, stability, NumPy/JAX agreement,
properties."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from simstats.theory import formalism as F

jax.config.update("jax_enable_x64", True)  # compare NumPy and JAX in float64, not JAX's default float32


# --- closed forms and limiting cases


def test_posterior_matches_bayes_rule_by_hand():
    prior, lik = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.5, 0.4])
    joint = prior * lik  # 0.05, 0.15, 0.08
    expected = joint / joint.sum()
    np.testing.assert_allclose(F.persona_posterior(np.log(prior), np.log(lik)), expected, rtol=1e-12)
    np.testing.assert_allclose(
        F.persona_log_posterior(np.log(prior), np.log(lik)), np.log(expected), rtol=1e-12
    )


def test_uniform_prior_and_no_evidence_give_uniform():
    k = 5
    np.testing.assert_allclose(F.persona_posterior(np.zeros(k), np.zeros(k)), np.full(k, 1 / k), rtol=1e-12)


def test_posterior_axis_argument():
    logits = np.array([[0.0, 1.0], [2.0, 2.0]])  # personas along axis 0
    post = F.persona_posterior(logits, np.zeros_like(logits), axis=0)
    np.testing.assert_allclose(post.sum(axis=0), 1.0)
    np.testing.assert_allclose(
        post[:, 1], [np.exp(1) / (np.exp(1) + np.exp(2)), np.exp(2) / (np.exp(1) + np.exp(2))]
    )


def test_zero_prior_persona_stays_impossible():
    post = F.persona_posterior(np.array([-np.inf, math.log(0.5), math.log(0.5)]), np.array([100.0, 0.0, 0.0]))
    np.testing.assert_array_equal(post[0], 0.0)
    np.testing.assert_allclose(post, [0.0, 0.5, 0.5])


def test_persona_logits_matches_loop_over_contexts():
    rng = np.random.default_rng(0)
    n_ctx, n_feat, k, n_q = 7, 3, 4, 2
    checkpoint = rng.integers(0, 2, n_ctx)
    question = rng.integers(0, n_q, n_ctx)
    eta_per_ckpt = rng.normal(size=(2, k))
    x = rng.normal(size=(n_ctx, n_feat))
    gamma = rng.normal(size=(n_feat, k))
    u = rng.normal(size=(n_q, k))
    got = F.persona_logits(eta_per_ckpt[checkpoint], x, gamma, u[question])
    assert got.shape == (n_ctx, k)
    for c in range(n_ctx):
        for j in range(k):
            want = (
                eta_per_ckpt[checkpoint[c], j]
                + sum(x[c, f] * gamma[f, j] for f in range(n_feat))
                + u[question[c], j]
            )
            assert got[c, j] == pytest.approx(want, rel=1e-12, abs=1e-12)
    # No question effect is the same as a zero one; one eta broadcasts over all contexts.
    np.testing.assert_allclose(F.persona_logits(eta_per_ckpt[0], x, gamma), eta_per_ckpt[0] + x @ gamma)


def test_finetune_weight_zero_leaves_parent_unchanged():
    parent = np.log(np.array([0.6, 0.3, 0.1]))
    log_lik = np.array([-1.0, 2.0, -np.inf])  # includes L = 0: L^0 must still be 1
    np.testing.assert_allclose(F.finetune_update(parent, log_lik, 0.0), parent, rtol=1e-12)


def test_finetune_weight_one_is_bayes_rule():
    parent, log_lik = np.log([0.6, 0.3, 0.1]), np.array([-1.0, 2.0, 0.5])
    np.testing.assert_allclose(
        F.finetune_update(parent, log_lik, 1.0), F.persona_log_posterior(parent, log_lik), rtol=1e-12
    )


def test_finetune_weight_is_repeated_evidence():
    # L^2 by hand: weights 0.5*4 and 0.5*1, normalised to 0.8 / 0.2.
    np.testing.assert_allclose(
        np.exp(F.finetune_update(np.log([0.5, 0.5]), np.log([2.0, 1.0]), 2.0)), [0.8, 0.2]
    )


def test_finetune_broadcasts_over_weights():
    parent, log_lik = np.log([0.5, 0.5]), np.log([2.0, 1.0])
    lam = np.array([[0.0], [1.0], [2.0]])
    got = np.exp(F.finetune_update(parent, log_lik, lam))
    np.testing.assert_allclose(got, [[0.5, 0.5], [2 / 3, 1 / 3], [0.8, 0.2]])


def test_entropy_of_uniform_is_log_k_and_of_one_hot_is_zero():
    for k in (1, 2, 7):
        assert F.persona_entropy(np.full(k, 1 / k)) == pytest.approx(math.log(k), rel=1e-12, abs=1e-15)
        assert F.persona_entropy_from_logits(np.zeros(k)) == pytest.approx(math.log(k), rel=1e-12, abs=1e-15)
    assert F.persona_entropy(np.array([0.0, 1.0, 0.0])) == 0.0
    assert F.persona_entropy_from_logits(np.array([-np.inf, 0.0, -np.inf])) == 0.0


def test_entropy_closed_form_and_axis():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    want = [-(0.2 * math.log(0.2) + 0.8 * math.log(0.8)), math.log(2)]
    np.testing.assert_allclose(F.persona_entropy(p), want, rtol=1e-12)
    np.testing.assert_allclose(F.persona_entropy(p.T, axis=0), want, rtol=1e-12)
    np.testing.assert_allclose(F.persona_entropy_from_logits(np.log(p)), want, rtol=1e-12)


def test_predicted_rates_closed_form():
    shares = np.array([[0.9, 0.1], [0.5, 0.5]])
    fingerprints = np.array([[0.0, 0.1, 0.02], [1.0, 0.5, 0.3]])  # K=2 personas, B=3 behaviours
    want = [[0.1, 0.9 * 0.1 + 0.1 * 0.5, 0.9 * 0.02 + 0.1 * 0.3], [0.5, 0.3, 0.16]]
    np.testing.assert_allclose(F.predicted_rates(shares, fingerprints), want, rtol=1e-12)


def test_responsibilities_and_marginal_match_hand_computation():
    # Two personas with N(0,1) and N(3,1) aligned-score fingerprints (standardised), weights 0.7 / 0.3, y = 1.
    y, w = 1.0, (0.7, 0.3)
    f = (
        math.exp(-0.5 * y**2) / math.sqrt(2 * math.pi),
        math.exp(-0.5 * (y - 3) ** 2) / math.sqrt(2 * math.pi),
    )
    total = w[0] * f[0] + w[1] * f[1]
    log_w, log_f = np.log(w), np.log(f)
    np.testing.assert_allclose(F.responsibilities(log_w, log_f), [w[0] * f[0] / total, w[1] * f[1] / total])
    assert F.marginal_log_likelihood(log_w, log_f) == pytest.approx(math.log(total), rel=1e-12)


def test_responsibilities_are_a_posterior_per_observation():
    rng = np.random.default_rng(1)
    log_w = np.log(rng.dirichlet(np.ones(4)))
    log_f = rng.normal(scale=5, size=(100, 4))  # 100 observations
    r = F.responsibilities(log_w, log_f)
    assert r.shape == (100, 4)
    np.testing.assert_allclose(r.sum(axis=-1), 1.0, rtol=1e-12)
    # log r_k = log w_k + log f_k - log marginal: the two functions agree.
    np.testing.assert_allclose(
        np.log(r), log_w + log_f - F.marginal_log_likelihood(log_w, log_f)[:, None], atol=1e-12
    )


def test_marginal_accepts_unnormalised_logits():
    log_f = np.array([-1.0, -3.0])
    logits = np.array([2.0, 1.0])
    np.testing.assert_allclose(
        F.marginal_log_likelihood(logits, log_f),
        F.marginal_log_likelihood(F.persona_log_posterior(logits, 0.0), log_f),
        rtol=1e-12,
    )


# --- threshold rule against simulation


def test_behaviour_rate_matches_simulation():
    # Three personas; scores are 100 * Beta, aligned and coherent drawn independently given the persona.
    shares = np.array([0.6, 0.3, 0.1])
    aligned_ab = np.array([[8.0, 2.0], [2.0, 5.0], [1.0, 6.0]])
    coherent_ab = np.array([[9.0, 1.0], [5.0, 2.0], [1.0, 3.0]])
    p_al = stats.beta.cdf(0.30, aligned_ab[:, 0], aligned_ab[:, 1])
    p_co = stats.beta.sf(0.50, coherent_ab[:, 0], coherent_ab[:, 1])
    predicted = float(F.behaviour_rate(shares, p_al, p_co))

    n = 400_000
    rng = np.random.default_rng(2024)
    z = rng.choice(3, size=n, p=shares)
    aligned = 100 * rng.beta(aligned_ab[z, 0], aligned_ab[z, 1])
    coherent = 100 * rng.beta(coherent_ab[z, 0], coherent_ab[z, 1])
    observed = np.mean((aligned < 30) & (coherent > 50))

    # The simulated rate is a binomial proportion: SE = sqrt(p(1-p)/n) (about 6e-4 here). A 5-SE band fails
    # by chance with probability < 1e-6, yet an error of 0.5 percentage points in the formula would break it.
    se = math.sqrt(predicted * (1 - predicted) / n)
    assert 0.05 < predicted < 0.5  # a rate where the test has power, not a trivially tiny one
    assert abs(observed - predicted) < 5 * se


def test_behaviour_rate_broadcasts_over_cells():
    shares = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    got = F.behaviour_rate(shares, np.array([0.1, 0.8]), np.array([0.9, 0.5]))
    np.testing.assert_allclose(got, [0.09, 0.4, 0.245])


def test_deprecated_threshold_rate_warns_and_equals_behaviour_rate():
    shares = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    clauses = np.array([0.1, 0.8]), np.array([0.9, 0.5])
    with pytest.warns(DeprecationWarning, match="behaviour_rate"):
        old = F.threshold_rate(shares, *clauses)
    np.testing.assert_array_equal(old, F.behaviour_rate(shares, *clauses))


# --- numerical stability


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow / invalid-value RuntimeWarning fails the test
        yield


@pytest.mark.usefixtures("no_warnings")
def test_huge_logits_do_not_overflow():
    np.testing.assert_allclose(F.persona_posterior(np.zeros(2), np.array([1000.0, 0.0])), [1.0, 0.0])
    np.testing.assert_allclose(F.persona_posterior(np.zeros(2), np.array([1e300, 1e300])), [0.5, 0.5])
    np.testing.assert_allclose(
        F.persona_posterior(np.zeros(3), np.array([-1e300, 0.0, 0.0])), [0.0, 0.5, 0.5]
    )
    assert F.persona_entropy_from_logits(np.array([1e300, 1e300])) == pytest.approx(math.log(2))
    assert F.persona_entropy_from_logits(np.array([5000.0, 0.0])) == 0.0
    np.testing.assert_allclose(
        np.exp(F.finetune_update(np.zeros(2), np.array([800.0, 0.0]), 3.0)), [1.0, 0.0]
    )


@pytest.mark.usefixtures("no_warnings")
def test_tiny_emissions_do_not_underflow_the_marginal():
    # f_k(y) ~ e^-10000 underflows to 0 in linear space; in log space the answer is exact.
    log_w, log_f = np.log([0.25, 0.75]), np.array([-10_000.0, -10_001.0])
    want = -10_000.0 + math.log(0.25 + 0.75 * math.exp(-1))
    assert F.marginal_log_likelihood(log_w, log_f) == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(
        F.responsibilities(log_w, log_f), np.array([0.25, 0.75 / math.e]) / (0.25 + 0.75 / math.e)
    )


def test_impossible_observation_has_minus_inf_marginal():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.marginal_log_likelihood(np.log([0.5, 0.5]), np.array([-np.inf, -np.inf])) == -np.inf


# --- NumPy and JAX agree

_rng = np.random.default_rng(7)
_LOG_W0 = np.array([-np.inf, *np.log([0.2, 0.3, 0.5])])  # one persona with zero weight
_K = 4
_CASES = {
    "persona_posterior": (F.persona_posterior, (_LOG_W0, _rng.normal(size=(3, _K)))),
    "persona_log_posterior": (F.persona_log_posterior, (_rng.normal(size=_K), _rng.normal(size=(3, _K)))),
    "persona_logits": (
        F.persona_logits,
        (
            _rng.normal(size=(3, _K)),
            _rng.normal(size=(3, 2)),
            _rng.normal(size=(2, _K)),
            _rng.normal(size=(3, _K)),
        ),
    ),
    "finetune_update": (
        F.finetune_update,
        (np.log([0.4, 0.3, 0.2, 0.1]), np.array([0.0, -np.inf, 1.0, 2.0]), 0.0),
    ),
    "finetune_update_pos": (
        F.finetune_update,
        (_rng.normal(size=_K), _rng.normal(size=_K), np.array([0.5, 2.0])[:, None]),
    ),
    "persona_entropy": (F.persona_entropy, (np.array([[0.0, 0.5, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]),)),
    "persona_entropy_from_logits": (F.persona_entropy_from_logits, (np.array([[-np.inf, 1e3, 0.0, 2.0]]),)),
    "predicted_rates": (F.predicted_rates, (_rng.dirichlet(np.ones(_K), size=3), _rng.uniform(size=(_K, 5)))),
    "behaviour_rate": (
        F.behaviour_rate,
        (_rng.dirichlet(np.ones(_K), 3), _rng.uniform(size=_K), _rng.uniform(size=_K)),
    ),
    "marginal_log_likelihood": (F.marginal_log_likelihood, (_rng.normal(size=_K), _rng.normal(size=(6, _K)))),
    "responsibilities": (F.responsibilities, (_LOG_W0, _rng.normal(size=(6, _K)))),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_numpy_and_jax_agree(name):
    fn, args = _CASES[name]
    want = fn(*args)
    assert isinstance(want, np.ndarray | np.floating)
    jargs = [jnp.asarray(a) for a in args]
    for got in (fn(*jargs), jax.jit(fn)(*jargs)):
        assert isinstance(got, jax.Array)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)


def test_one_jax_argument_is_enough_to_dispatch():
    got = F.predicted_rates(jnp.asarray([0.5, 0.5]), np.eye(2))
    assert isinstance(got, jax.Array)


def test_jax_gradients_are_finite_and_correct():
    # d/dlambda of log pi_m at lambda = 0 is log L - E_parent[log L] (the score of a log-softmax).
    parent = jnp.log(jnp.array([0.6, 0.3, 0.1]))
    log_lik = jnp.array([-1.0, 2.0, 0.5])
    grad = jax.jacfwd(lambda lam: F.finetune_update(parent, log_lik, lam))(0.0)
    np.testing.assert_allclose(grad, log_lik - jnp.sum(jnp.exp(parent) * log_lik), rtol=1e-12)
    # Entropy at a boundary point (a zero share) has a finite gradient thanks to the double where.
    g = jax.grad(F.persona_entropy)(jnp.array([0.5, 0.5, 0.0]))
    assert bool(jnp.all(jnp.isfinite(g)))
    g = jax.grad(F.persona_entropy_from_logits)(jnp.array([0.0, 1.0, -jnp.inf]))
    assert bool(jnp.all(jnp.isfinite(g[:2])))


def test_importing_formalism_does_not_import_jax():
    code = "import sys, simstats.theory.formalism; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples():
    result = doctest.testmod(F, raise_on_error=False)
    assert result.attempted >= 10 and result.failed == 0


# --- properties (hypothesis)

_finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
_shift = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_k = st.integers(1, 8)


def _logit_vectors(n: int):
    """n logit vectors of one common length K."""
    return _k.flatmap(lambda k: st.tuples(*[arrays(np.float64, k, elements=_finite) for _ in range(n)]))


@settings(max_examples=200, deadline=None)
@given(_logit_vectors(2), _shift)
def test_posterior_is_normalised_and_shift_invariant(vecs, c):
    log_prior, log_lik = vecs
    post = F.persona_posterior(log_prior, log_lik)
    assert np.all(post >= 0)
    assert post.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(F.persona_posterior(log_prior + c, log_lik), post, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(F.persona_posterior(log_prior, log_lik + c), post, rtol=1e-9, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(_logit_vectors(2), _shift, st.floats(0, 5), st.floats(0, 5))
def test_finetune_is_normalised_shift_invariant_and_composes(vecs, c, a, b):
    parent, log_lik = vecs
    post = F.finetune_update(parent, log_lik, a)
    assert np.exp(post).sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(F.finetune_update(parent + c, log_lik + c, a), post, rtol=1e-9, atol=1e-9)
    # Two updates on the same data with weights a and b equal one update with weight a + b.
    twice = F.finetune_update(F.finetune_update(parent, log_lik, a), log_lik, b)
    np.testing.assert_allclose(twice, F.finetune_update(parent, log_lik, a + b), rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(_logit_vectors(1), _shift)
def test_entropy_bounds_shift_invariance_and_consistency(vecs, c):
    (logits,) = vecs
    h = F.persona_entropy_from_logits(logits)
    assert -1e-12 <= h <= math.log(logits.size) + 1e-12
    assert F.persona_entropy_from_logits(logits + c) == pytest.approx(h, rel=1e-9, abs=1e-9)
    assert F.persona_entropy(F.persona_posterior(logits, 0.0)) == pytest.approx(h, rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(_logit_vectors(2), _shift, _shift)
def test_mixture_marginal_and_responsibilities_invariances(vecs, c, d):
    log_w, log_f = vecs
    r = F.responsibilities(log_w, log_f)
    assert r.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(F.responsibilities(log_w + c, log_f + d), r, rtol=1e-9, atol=1e-12)
    m = F.marginal_log_likelihood(log_w, log_f)
    # Weights are normalised inside, so shifting them changes nothing; scaling every f_k by e^d adds d.
    assert F.marginal_log_likelihood(log_w + c, log_f + d) == pytest.approx(m + d, rel=1e-9, abs=1e-9)
    # A mixture's log-density lies between its components' smallest and largest.
    assert log_f.min() - 1e-9 <= m <= log_f.max() + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda k: st.tuples(
            arrays(np.float64, k, elements=st.floats(0.01, 1)),
            arrays(np.float64, k, elements=st.floats(0, 1)),
            arrays(np.float64, k, elements=st.floats(0, 1)),
        )
    )
)
def test_behaviour_rate_is_a_rate(args):
    raw, p_al, p_co = args
    shares = raw / raw.sum()
    rate = F.behaviour_rate(shares, p_al, p_co)
    # It is a probability, no larger than the rate of either condition alone.
    assert -1e-12 <= rate <= 1 + 1e-12
    assert rate <= F.predicted_rates(shares, np.stack([p_al, p_co], axis=1)).min() + 1e-12
