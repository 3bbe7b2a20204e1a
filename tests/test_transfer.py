"""Reusable personas (issue 15, item 4): fingerprints of an earlier fit as the priors of a new one, or held fixed.

Two kinds of check. The mechanics use a *stand-in* source, prior draws of the model put where a posterior goes
(they are draws of the same variables, which is all the transfer reads): the spec round-trips and hashes, the
priors built are the moment-matched ones, fixed tables have no free variable, and every mismatch is refused with
one line. The statistics use real fits on simulated logs with known truth: a small log (30 answers per
condition) fitted with the fingerprints of a large fit of the same personas must cover its true shares with
intervals no wider than its fit on its own fingerprints (the full study is ``scripts/transfer_study.py``).
"""

from __future__ import annotations

import dataclasses
import types
import warnings

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from simstats import fit
from simstats.errors import SpecError
from simstats.families.fingerprints import dirichlet_concentration, transfer_alpha
from simstats.kinds import build_model
from simstats.results.fit_result import FitResult
from simstats.results.transfer import transfer_spec
from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict, spec_source
from simstats.validation import simulate_log

K2 = DEFAULT_SPEC_PATH.parent / "persona_mixture_k2.toml"


def _stand_in(spec, pats, status="ok", seed=1) -> FitResult:
    """A FitResult whose 'posterior' is random draws of each fingerprint variable (2 chains x 100), a stand-in for
    the transfer mechanics: what a transfer reads is those variables' draws, nothing else."""
    from simstats.families.fingerprints import FAMILIES, category_labels
    from simstats.graph.design import coarsen

    rng = np.random.default_rng(seed)
    grids, K, S = coarsen(spec, pats).grids, len(spec.personas), (2, 100)
    post = {}
    for ms in spec.measures:
        n = len(category_labels(grids[ms.name]))
        alpha = rng.uniform(5, 60, size=(K, n))
        post[f"fp_{ms.name}"] = (("chain", "draw", "persona", f"{ms.name}_bin"),
                                 np.stack([rng.dirichlet(a, size=S) for a in alpha], axis=2))
        for p in FAMILIES[ms.likelihood].params:
            post[f"fp_{ms.name}_{p}"] = (("chain", "draw", "persona"), rng.normal(rng.normal(size=K), 0.3, (*S, K)))
    r = FitResult(xr.DataTree.from_dict({"posterior": xr.Dataset(post)}), spec, pats)
    r.__dict__["diagnostics"] = types.SimpleNamespace(status=status, messages=["R-hat 1.3 (eta)"])
    return r


def _prior_draws(model, name: str, n: int = 4000) -> np.ndarray:
    return np.asarray(pm.draw(model[name], draws=n, random_seed=2))


def _with(spec, **measure_changes):
    d = spec_source(spec)
    for m, ch in measure_changes.items():
        d["measures"][m].update(ch)
    return spec_from_dict(d, source="edited.toml")


@pytest.fixture(scope="module")
def k2():
    spec = load_spec(K2)
    pats, _ = simulate_log(spec, n_conditions=2, n_prompts=3, answers_per_cell=20, seed=1)
    return spec, pats, _stand_in(spec, pats)


def test_transferred_spec_round_trips_and_changes_only_its_own_hash(k2):
    spec, pats, src = k2
    new = transfer_spec(spec, pats, src)
    assert set(new.fingerprints.transfer) == set(spec.measure_names)
    assert new.fingerprints.source["spec_hash"] == spec.hash()
    assert new.hash() != spec.hash()
    again = spec_from_dict(spec_source(new), source="stored")
    assert again.hash() == new.hash() and again.fingerprints.transfer == new.fingerprints.transfer
    # an untouched spec still hashes as before the transfer keys existed
    assert spec_from_dict(spec_source(spec)).hash() == spec.hash()
    assert "transfer" not in spec.to_dict().get("fingerprints", {})


def test_prior_is_the_moment_matched_dirichlet_of_the_source_draws(k2):
    spec, pats, src = k2
    new = transfer_spec(spec, pats, src)
    model, _ = build_model(new, pats)
    draws = np.asarray(src.posterior["fp_aligned"]).reshape(-1, *src.posterior["fp_aligned"].shape[2:])
    tr = new.fingerprints.transfer["aligned"]
    np.testing.assert_allclose(tr["table"], draws.mean(0), rtol=1e-12)
    np.testing.assert_allclose(tr["concentration"], dirichlet_concentration(draws), rtol=1e-12)
    # the Dirichlet in the model has exactly those parameters: its prior mean is the source's posterior mean
    got = _prior_draws(model, "fp_aligned")
    a = transfer_alpha(tr)
    np.testing.assert_allclose(got.mean(0), a / a.sum(-1, keepdims=True), atol=0.01)


def test_parametric_family_gets_each_parameters_posterior_mean_and_sd(k2):
    spec, pats, _ = k2
    spec = _with(spec, aligned={"likelihood": "binned_logit_normal"})
    src = _stand_in(spec, pats, seed=3)
    new = transfer_spec(spec, pats, src)
    par = new.fingerprints.transfer["aligned"]["params"]
    assert set(par) == {"location", "log_scale", "noscore_logit"}
    loc = np.asarray(src.posterior["fp_aligned_location"]).reshape(-1, 2)
    np.testing.assert_allclose(par["location"]["mean"], loc.mean(0), rtol=1e-12)
    np.testing.assert_allclose(par["location"]["sd"], loc.std(0), rtol=1e-12)
    model, _ = build_model(new, pats)
    got = _prior_draws(model, "fp_aligned_location")
    np.testing.assert_allclose(got.mean(0), loc.mean(0), atol=4 * loc.std(0).max() / np.sqrt(4000) + 1e-9)
    np.testing.assert_allclose(got.std(0), loc.std(0), rtol=0.08)


def test_fixed_fingerprints_have_no_free_variable_and_equal_the_posterior_mean(k2):
    spec, pats, src = k2
    new = transfer_spec(spec, pats, src, fixed=True)
    model, _ = build_model(new, pats)
    free = {v.name for v in model.free_RVs}
    assert not any(n.startswith("fp_") for n in free), free
    table = model["fp_aligned"].eval()
    post = np.asarray(src.posterior["fp_aligned"])
    np.testing.assert_allclose(table, post.reshape(-1, *post.shape[2:]).mean(0), rtol=1e-9)
    assert any("held fixed at its posterior mean" in n for n in build_model(new, pats)[1].notes)


def test_mismatched_sources_are_refused_with_one_line(k2):
    spec, pats, src = k2
    k3 = load_spec(DEFAULT_SPEC_PATH.parent / "persona_mixture_k3.toml")
    with pytest.raises(SpecError, match=r"personas \['aligned', 'misaligned'\] are not this spec's"):
        transfer_spec(k3, pats, src)
    with pytest.raises(SpecError, match="likelihood 'categorical' there and 'binned_beta' here"):
        transfer_spec(_with(spec, aligned={"likelihood": "binned_beta"}), pats, src)
    with pytest.raises(SpecError, match="categories differ"):
        transfer_spec(_with(spec, coherent={"bins": 5}), pats, src)
    renamed = dataclasses.replace(spec, personas=spec.personas[::-1])
    with pytest.raises(SpecError, match="same names in the same order"):
        transfer_spec(renamed, pats, src)
    failed = _stand_in(spec, pats, status="failed")
    with pytest.raises(SpecError, match="failed its diagnostics"):
        transfer_spec(spec, pats, failed)


def test_a_hand_edited_transfer_of_the_wrong_shape_is_a_spec_error(k2):
    spec, pats, src = k2
    d = spec_source(transfer_spec(spec, pats, src))
    d["fingerprints"]["transfer"]["aligned"]["table"] = [[0.5, 0.5], [0.5, 0.5]]
    bad = spec_from_dict(d, source="edited.toml")
    with pytest.raises(SpecError, match="has 2 categories, but the data's aligned has 11"):
        build_model(bad, pats)
    d["fingerprints"]["transfer"]["aligned"]["table"] = [[0.5, 0.5]]
    with pytest.raises(SpecError, match="list of 2 lists of numbers"):
        spec_from_dict(d, source="edited.toml")
    d["fingerprints"]["transfer"]["nope"] = {}
    with pytest.raises(SpecError, match="unknown key 'nope'"):
        spec_from_dict(d, source="edited.toml")


# ---------------------------------------------------------------------------------------------- statistics
@pytest.fixture(scope="module")
def small_and_big():
    """One truth of the 2-persona spec, its fingerprints away from the anchors (Dirichlet noise of concentration
    20 around them: real personas are not their anchors): a large log (3 conditions x 4 questions x 150 answers)
    and a small one with other shares and the same fingerprints (10 answers per question: 40 per condition)."""
    spec = load_spec(K2)
    rng = np.random.default_rng(5)
    _, base = simulate_log(spec, n_conditions=1, n_prompts=1, answers_per_cell=1, seed=5)
    fps = {m: np.stack([rng.dirichlet(20 * row + 0.05) for row in f]) for m, f in base.fingerprints.items()}
    big, _ = simulate_log(spec, n_conditions=3, n_prompts=4, answers_per_cell=150, seed=11, fingerprints=fps)
    small, truth = simulate_log(spec, n_conditions=3, n_prompts=4, answers_per_cell=10, seed=12, fingerprints=fps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = fit(spec, big, draws=300, tune=300, chains=2, seed=1, progress=False)
        own = fit(spec, small, draws=300, tune=300, chains=2, seed=1, progress=False)
        moved = fit(spec, small, draws=300, tune=300, chains=2, seed=1, progress=False, fingerprints_from=source)
    return truth, fps, source, own, moved


def _true_shares(truth, result) -> np.ndarray:
    """The small log's true share of each (condition, persona), in the order of ``result.shares()``."""
    table = truth.condition_shares()
    conds, pers = list(result.conditions), list(result.personas)
    return np.array([table[conds.index(c), pers.index(p)] for c, p in result.shares().index])


def _share_sd(result) -> np.ndarray:
    """Posterior sd of each (condition, persona) share, in the order of ``result.shares()``."""
    d = np.asarray(result.model_kind.share_draws(result))
    sd = d.reshape(-1, *d.shape[-2:]).std(0)
    conds, pers = list(result.conditions), list(result.personas)
    return np.array([sd[conds.index(c), pers.index(p)] for c, p in result.shares().index])


def _fingerprint_error(result, truth: dict[str, np.ndarray]) -> float:
    """Mean absolute error of the posterior-mean fingerprint tables against the true ones."""
    return float(np.mean([np.abs(result.fingerprint_draws(m).mean(axis=(0, 1)) - truth[m]).mean() for m in truth]))


def test_transferred_fingerprints_keep_the_large_logs_personas_and_cover_the_truth(small_and_big):
    """What the transfer buys a small log is the personas: its fingerprints are those a large log learned, not
    the few answers' own. Tolerances: the transferred fit's fingerprint error under 0.6 of the own-fingerprint
    fit's (measured on 4 seeds of this design: 0.09-0.23); every share's posterior mean within 4 posterior sds of
    the truth in both fits (largest z over the 4 seeds 2.3; a calibrated posterior misses 4 sds by chance with
    probability 6e-5 per share, so a failure means bias, not bad luck). Narrower share intervals are *not*
    asserted: over the same seeds the transfer narrowed the mean posterior sd of a share by 1-8% on three and
    widened it by 40% on one, where the small log's own fit, pulled to anchors more separated than the true
    personas, was overconfident (``validation/transfer_recovery.json`` has the larger study)."""
    truth, fps, source, own, moved = small_and_big
    assert source.diagnostics.status != "failed" and moved.diagnostics.status != "failed"
    err_own, err_moved = _fingerprint_error(own, fps), _fingerprint_error(moved, fps)
    assert err_moved < 0.6 * err_own, (err_moved, err_own)
    t = _true_shares(truth, moved)
    for r in (own, moved):
        z = np.abs(r.shares()["mean"].to_numpy() - t) / _share_sd(r)
        assert z.max() < 4, r.shares().assign(truth=t, z=z)


# ---------------------------------------------------------------------------------------------- command line
def test_cli_refuses_bad_transfer_requests_with_one_line(k2, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from simstats.results.store import save_result
    from simstats.validation import Design, simulate

    spec, _, src = k2
    run = save_result(src, tmp_path / "source_run")
    log = simulate(spec, design=Design(levels=("model",), groups=(2,), baseline=None, questions=2, features={},
                                       answers=5), seed=3).write(tmp_path / "log.csv")
    base = ["fit", str(K2), str(log["log"]), "--roles", str(log["roles"]), "--out", str(tmp_path / "out")]
    code, _, err = run_cli([*base, "--fingerprints-fixed"], monkeypatch, capsys)
    assert code == 2 and "needs --fingerprints-from" in err
    code, _, err = run_cli([*base, "--fingerprints-from", str(tmp_path / "nowhere")], monkeypatch, capsys)
    assert code == 2 and "not a simstats result folder" in err and "Traceback" not in err
    k3 = str(DEFAULT_SPEC_PATH.parent / "persona_mixture_k3.toml")
    code, _, err = run_cli(["fit", k3, *base[2:], "--fingerprints-from", str(run)], monkeypatch, capsys)
    assert code == 2 and "are not this spec's" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3           # one message (rich may wrap a long line)
    assert not (tmp_path / "out").exists()              # nothing written on a refusal
