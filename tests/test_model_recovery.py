"""Parameter recovery: simulate logs from the model with known persona shares, fit with a real sampler, and check
that the posterior finds them. No mocks: every fit here runs NUTS.

Tolerances. Each condition has 4 prompts x 2 formats x 100 = 800 answers. A persona share near 0.3 estimated from 480
answers whose persona is itself uncertain has a posterior sd of about 0.02-0.03, so
- each posterior mean must lie within 4 posterior sds of the truth (a miss has probability < 1e-4 per share if the
  posterior is calibrated), and
- the 90% intervals must cover at least 12 of the 16 (condition, persona) shares of a fit (expected 14.4; for a
  calibrated posterior P(coverage <= 11 of 16) is about 2% if independent).
"""

from __future__ import annotations

import numpy as np
import pytest

from simstats.graph.design import model_data
from simstats.graph.kernel import mixture_kernel
from simstats.inference import fit
from simstats.inference.diagnostics import label_switching
from simstats.kinds import build_model, kind_of
from simstats.kinds.mixture.start import em_start
from simstats.kinds.mixture.tables import condition_shares, labels_match_anchors
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation import simulate_log
from simstats.validation.quick import empirical_threshold_rate, predictive_threshold_rate

SPEC = load_spec(DEFAULT_SPEC_PATH)
# known shares (aligned, misaligned, careless, code_or_incoherent) per condition at the reference format and mean
# question (the shares over each condition's prompt mix, the quantity checked, follow from these and the effects)
SHARES = np.array([[0.85, 0.05, 0.05, 0.05], [0.5, 0.25, 0.15, 0.1], [0.45, 0.1, 0.1, 0.35], [0.94, 0.02, 0.03, 0.01]])
K = SHARES.shape[1]
ETA = np.log(SHARES) - np.log(SHARES[:, :1])


def _simulate(seed: int, answers: int = 100):
    return simulate_log(SPEC, n_conditions=4, n_prompts=4, answers_per_cell=answers, eta=ETA,
                        prompt_sd=0.3, coef_sd=0.3, seed=seed)


def test_kernel_matches_direct_sum_and_gradient():
    """The fused numba kernel equals the direct log-sum-exp and its gradient equals finite differences."""
    rng = np.random.default_rng(0)
    C, E, K, P = 7, 5, 3, 40
    logw = np.log(rng.dirichlet(np.ones(K), C))
    logf = np.log(rng.uniform(0.01, 1, (E, K)))
    cell, emis = rng.integers(0, C, P), rng.integers(0, E, P)
    n = rng.integers(1, 9, P).astype(float)
    ll, gw, gf = mixture_kernel()(logw, logf, cell, emis, n)
    a = logw[cell] + logf[emis]
    direct = (n * np.log(np.exp(a).sum(1))).sum()
    assert float(ll) == pytest.approx(direct, rel=1e-12)
    h = 1e-6
    for arr, g in ((logw, gw), (logf, gf)):
        for idx in [(0, 0), (1, 2), (arr.shape[0] - 1, 1)]:
            d = arr.copy()
            d[idx] += h
            args = (d, logf, cell, emis, n) if arr is logw else (logw, d, cell, emis, n)
            fd = (float(mixture_kernel()(*args)[0]) - float(ll)) / h
            assert g[idx] == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_kernel_survives_personas_that_disagree_by_hundreds_of_nats():
    """Weights and emissions that put their mass on different personas: the probability-space sum underflows and
    the kernel falls back to log-sum-exp (value and gradient still exact)."""
    logw = np.array([[0.0, -800.0], [np.log(0.5), np.log(0.5)]])
    logf = np.array([[-800.0, 0.0], [-1.0, -2.0]])
    cell, emis, n = np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([2.0, 1.0, 3.0])
    ll, gw, gf = mixture_kernel()(logw, logf, cell, emis, n)
    a = logw[cell] + logf[emis]
    lse = np.logaddexp(a[:, 0], a[:, 1])
    assert float(ll) == pytest.approx(float((n * lse).sum()), rel=1e-12)
    r = n[:, None] * np.exp(a - lse[:, None])
    ew, ef = np.zeros_like(logw), np.zeros_like(logf)
    np.add.at(ew, cell, r)
    np.add.at(ef, emis, r)
    assert np.allclose(gw, ew, rtol=1e-12) and np.allclose(gf, ef, rtol=1e-12)
    assert np.isfinite(gw).all() and np.isfinite(gf).all()


def test_simulator_matches_truth_in_large_samples():
    """At 20,000 answers per cell the simulated persona-free marginals match the model's expectation."""
    pats, truth = simulate_log(SPEC, n_conditions=2, n_prompts=2, answers_per_cell=20000, eta=ETA[:2], seed=3)
    t = pats.table
    w = truth.cell_weights()
    fa = truth.fingerprints["aligned"]
    cells = truth.cells
    for i, row in cells.iterrows():
        sel = (t["condition"] == row["condition"]) & (t["prompt"] == row["prompt"]) & (t["format"] == row["format"])
        obs_missing = t.loc[sel & (t["aligned"] == -1), "count"].sum() / t.loc[sel, "count"].sum()
        exp_missing = float(w[i] @ fa[:, 0])
        assert obs_missing == pytest.approx(exp_missing, abs=4 * np.sqrt(exp_missing * (1 - exp_missing) / 20000))
    assert pats.n_answers == 2 * 2 * 2 * 20000


def test_em_start_recovers_fingerprints_and_keeps_labels():
    pats, truth = _simulate(seed=11, answers=200)
    data = model_data(SPEC, pats)
    em = em_start(SPEC, data)
    for m in SPEC.measure_names:
        dist = np.abs(em.fingerprints[m][:, None] - truth.fingerprints[m][None]).sum(-1)  # L1 (em, truth)
        # 200 answers per cell: a persona with a ~10% share has ~260 answers; the L1 error of an 11-category
        # distribution estimated from that many is ~0.2 on average, so 0.4 is far from chance yet < the 1.2-2.0 gaps
        assert np.diag(dist).max() < 0.4, (m, dist.round(2))
        assert (dist.argmin(1) == np.arange(K)).all(), (m, dist.round(2))  # each EM persona is its own truth
    init = kind_of(SPEC).start(SPEC, data).values
    model, _ = build_model(SPEC, pats)
    assert set(init) == {rv.name for rv in model.free_RVs}           # a start value for every free variable
    assert {"logodds_mu", "fp_aligned", "fp_coherent"} <= set(init)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_nutpie_recovers_persona_shares(seed):
    pats, truth = _simulate(seed)
    out = fit(SPEC, pats, sampler="nutpie", draws=400, tune=400, chains=2, seed=seed, progress=False)
    d = out.diagnostics
    assert not d.label_switching and not d.merged, d.summary()
    assert labels_match_anchors(out.idata.posterior, SPEC, out.data)
    assert d.divergences <= 2, d.summary()
    sh2 = condition_shares(out.idata.posterior, out.data)                       # (chain, draw, C, K)
    # short CI chains: the gate (all parameters R-hat <= 1.01) is for real fits; here the estimands must have mixed
    import arviz_stats as azs
    rh = np.array([[float(azs.rhat(sh2[..., c, k])) for k in range(K)] for c in range(4)])
    assert rh.max() < 1.05, (rh.round(3), d.summary())
    sh = sh2.reshape(-1, 4, K)
    true = truth.condition_shares()
    mean, sd = sh.mean(0), sh.std(0)
    lo, hi = np.quantile(sh, 0.05, axis=0), np.quantile(sh, 0.95, axis=0)
    assert np.all(np.abs(mean - true) < 4 * sd + 0.005), (mean.round(3), true.round(3), sd.round(3))
    assert ((lo <= true) & (true <= hi)).sum() >= 12, (lo.round(3), true.round(3), hi.round(3))
    # fingerprints recovered: L1 distance per persona below 0.6 (a persona with a few % share has ~100-200 answers,
    # L1 sampling error ~0.3) and each estimate closest to its own true fingerprint (truths are 1.2-2.0 apart)
    for m in SPEC.measure_names:
        est = out.idata.posterior[f"fp_{m}"].mean(("chain", "draw")).values
        dist = np.abs(est[:, None] - truth.fingerprints[m][None]).sum(-1)
        assert np.diag(dist).max() < 0.6 and (dist.argmin(1) == np.arange(K)).all(), (m, dist.round(2))
    # posterior predictive threshold rate covers the observed one in most conditions
    rate = predictive_threshold_rate(out.idata.posterior, out.data, seed=0).reshape(-1, 4)
    emp = empirical_threshold_rate(out.data.patterns).reindex(out.data.conditions).to_numpy()
    q = np.quantile(rate, [0.05, 0.95], axis=0)
    assert ((q[0] <= emp) & (emp <= q[1])).sum() >= 3
    # per-pattern log-likelihood is available for LOO and adds up to the model's total
    ll = kind_of(SPEC).pattern_log_likelihood(out.idata.posterior, SPEC, out.data)
    assert ll.shape == (2, 400, len(out.data.count)) and np.isfinite(ll).all()


@pytest.mark.slow
def test_recovery_scales_with_size():
    """At 8x the answers the posterior sd shrinks by about sqrt(8) and the truth is still covered."""
    small, _ = _simulate(seed=5, answers=30)
    big, truth = _simulate(seed=5, answers=240)
    sds = []
    for pats in (small, big):
        # target_accept 0.99: at the spec's 0.9 one chain of the small log's fit (30 answers per cell) moves to
        # another persona labelling during warm-up (seed 5; the diagnostics report it as failed), which is a fact
        # about sampling multimodal small logs, not about how the posterior scales
        out = fit(SPEC, pats, sampler="nutpie", draws=300, tune=300, chains=2, seed=5, progress=False,
                  target_accept=0.99)
        sh = condition_shares(out.idata.posterior, out.data).reshape(-1, 4, K)
        sds.append(sh.std(0).mean())
    ratio = sds[0] / sds[1]
    assert 1.8 < ratio < 4.5, ratio          # sqrt(8) = 2.83; the prior and the persona uncertainty blur it
    true = truth.condition_shares()
    assert np.all(np.abs(sh.mean(0) - true) < 4 * sh.std(0) + 0.005)


def test_label_switching_check_detects_swapped_chain():
    """Swap two personas' fingerprints in one chain of a real fit's draws: the check must flag it."""
    import xarray as xr

    rng = np.random.default_rng(0)
    fa = np.array([[0.0, 0.05, 0.95], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    draws = np.broadcast_to(fa, (2, 50, 3, 3)) + rng.normal(0, 0.005, (2, 50, 3, 3))
    ok = xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"fp_aligned": (("chain", "draw", "persona", "aligned_bin"), draws)})})
    assert label_switching(ok.posterior) == []
    sw = draws.copy()
    sw[1] = sw[1][:, [0, 2, 1]]
    bad = xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"fp_aligned": (("chain", "draw", "persona", "aligned_bin"), sw)})})
    assert label_switching(bad.posterior) == ["chain 1"]
    half = draws.copy()
    half[0, 25:] = half[0, 25:][:, [1, 0, 2]]          # a switch half-way through chain 0
    within = xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"fp_aligned": (("chain", "draw", "persona", "aligned_bin"), half)})})
    assert label_switching(within.posterior) != []


@pytest.mark.parametrize("param", ["noncentred", "centred", "mixed"])
def test_model_logp_equals_numpy_pattern_loglik(param):
    """The PyMC graph's likelihood term equals the NumPy per-pattern log-likelihood weighted by counts (both
    parametrisations of the hierarchy; nested levels)."""
    import tomllib

    from simstats.spec import spec_from_dict

    pats, _ = _simulate(seed=4, answers=20)
    t = pats.table
    t["family"] = t["condition"].map({"c0": "a", "c1": "a", "c2": "b", "c3": "b"})
    pats.condition_levels = ["family"]
    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    d["hierarchy"]["parametrization"] = param
    spec = spec_from_dict(d)
    model, data = build_model(spec, pats)
    init = kind_of(spec).start(spec, data).values
    assert {v.name for v in model.free_RVs} == set(init)
    from pymc.initial_point import make_initial_point_fn

    point = make_initial_point_fn(model=model, overrides=init, jitter_rvs=set(), return_transformed=True)(0)
    import pytensor

    names = ["eta", "gamma", "u", "fp_aligned", "fp_coherent"]
    outs = [model.potentiallogp, *model.replace_rvs_by_values([model[n] for n in names])]
    f = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    pot, *vs = f(*[point[v.name] for v in model.value_vars])
    vals = dict(zip(names, vs))
    ll = kind_of(spec).pattern_log_likelihood({k: np.asarray(v)[None, None] for k, v in vals.items()}, spec,
                                              data)
    assert float(pot) == pytest.approx(float((ll[0, 0] * data.count).sum()), rel=1e-10)
