"""Per-answer PSIS-LOO from pattern fits equals ArviZ's PSIS-LOO on the expanded rows (issue 5's must-show), and
`compare` refuses runs fitted to different answers.

Any set of draws exercises the identity (it is about how the log-likelihood is aggregated, not about the posterior),
so the draws here come from the model's prior: no sampler, a second or two.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from simstats.errors import SimstatsError
from simstats.kinds import build_model, kind_of
from simstats.results.compare import compare, comparison_json, elpd_by_condition, loo
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation import simulate_log

SPEC = load_spec(DEFAULT_SPEC_PATH)
KIND = kind_of(SPEC)


def _fit_like(posterior, data):
    """What LOO reads off a fit: its draws, design, spec, model kind and diagnostics status."""
    return SimpleNamespace(posterior=posterior, data=data, spec=SPEC, model_kind=KIND,
                           diagnostics=SimpleNamespace(status="ok"))


def _pseudo_fit(seed: int, n_conditions: int = 3, answers: int = 12, draws: int = 400):
    import pymc as pm

    pats, truth = simulate_log(SPEC, n_conditions=n_conditions, n_prompts=2, answers_per_cell=answers, seed=seed)
    model, data = build_model(SPEC, pats)
    # draws near the truth (prior draws of the fingerprints and log-odds, pulled toward the simulated values), so
    # Pareto k is mostly fine and the comparison has something to compare
    names = [v.name for v in [*model.free_RVs, *model.deterministics]
             if v.name in ("eta", "gamma", "u", "fp_aligned", "fp_coherent")]
    with model:
        prior = pm.sample_prior_predictive(draws=2 * draws, var_names=names, random_seed=seed).prior
    post = {k: np.asarray(prior[k]).reshape(2, draws, *np.asarray(prior[k]).shape[2:]) for k in names}
    post["eta"] = 0.2 * post["eta"] + 0.8 * truth.eta
    for m in ("aligned", "coherent"):
        post[f"fp_{m}"] = 0.2 * post[f"fp_{m}"] + 0.8 * truth.fingerprints[m]
    return _fit_like(post, data)


def test_pattern_loo_equals_row_level_loo():
    import arviz_stats as azs
    import xarray as xr

    fit = _pseudo_fit(0)
    ours = loo(fit)
    ll = KIND.pattern_log_likelihood(fit.posterior, SPEC, fit.data)       # (chain, draw, pattern)
    rows = np.repeat(ll, fit.data.count, axis=-1)                         # one column per answer
    assert rows.shape[-1] == fit.data.count.sum() > len(fit.data.count)    # patterns do repeat
    tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({"y": (("chain", "draw", "answer"), rows)}),
                                  "posterior": xr.Dataset({"d": (("chain", "draw"), np.zeros(rows.shape[:2]))})})
    ref = azs.loo(tree, pointwise=True, var_name="y")
    assert ours.n_data_points == ref.n_data_points
    assert ours.elpd == pytest.approx(ref.elpd, rel=1e-10)
    assert ours.se == pytest.approx(ref.se, rel=1e-8)
    assert ours.p == pytest.approx(ref.p, rel=1e-8)
    assert np.allclose(np.asarray(ours.elpd_i), np.asarray(ref.elpd_i), rtol=1e-10)
    assert np.allclose(np.asarray(ours.pareto_k), np.asarray(ref.pareto_k), rtol=1e-8)


def test_compare_ranks_models_and_writes_the_json():
    good = _pseudo_fit(1)
    bad = _fit_like(dict(good.posterior), good.data)
    bad.posterior["eta"] = good.posterior["eta"][..., ::-1]            # personas' log-odds scrambled: worse
    table = compare({"truthish": good, "scrambled": bad})
    assert list(table.index) == ["truthish", "scrambled"]
    assert table.loc["scrambled", "elpd_diff"] < 0 and table.loc["truthish", "elpd_diff"] == 0   # ArviZ 1: worse < 0
    js = comparison_json(table)
    assert [m["name"] for m in js["models"]] == ["truthish", "scrambled"]
    assert {"name", "elpd_loo", "elpd_diff", "dse", "weight", "warnings"} <= set(js["models"][0])
    assert js["models"][0]["weight"] + js["models"][1]["weight"] == pytest.approx(1.0)


def test_compare_refuses_runs_on_different_answers():
    with pytest.raises(SimstatsError, match="different answers"):
        compare({"a": _pseudo_fit(2), "b": _pseudo_fit(3)})


def test_elpd_by_condition_adds_up_to_the_comparison():
    good = _pseudo_fit(1)
    bad = _fit_like(dict(good.posterior), good.data)
    bad.posterior["eta"] = good.posterior["eta"][..., ::-1]
    by = elpd_by_condition({"truthish": good, "scrambled": bad}, reference="truthish")
    assert sorted(by["condition"].unique()) == sorted(good.data.conditions)
    assert by.groupby("model")["n_answers"].sum().tolist() == [good.data.count.sum()] * 2
    scr = by[by.model == "scrambled"]
    assert scr["elpd_diff"].sum() == pytest.approx(loo(bad).elpd - loo(good).elpd, rel=1e-9)
    # and to compare's own column, which must not be rounded (arviz_stats rounds it unless round_to="none")
    table = compare({"truthish": good, "scrambled": bad})
    assert scr["elpd_diff"].sum() == pytest.approx(table.loc["scrambled", "elpd_diff"], rel=1e-9)
    assert comparison_json(table)["models"][1]["elpd_diff"] == pytest.approx(scr["elpd_diff"].sum(), rel=1e-9)
    assert (by[by.model == "truthish"][["elpd_diff", "dse"]] == 0).all().all()
    # the per-condition dse is the paired sd of the row-level differences within the condition
    d_rows = np.asarray(loo(bad).elpd_i) - np.asarray(loo(good).elpd_i)
    cond_rows = np.repeat(np.asarray(good.data.conditions)[good.data.cell_condition[good.data.pattern_cell]],
                          good.data.count)
    c0 = good.data.conditions[0]
    sel = d_rows[cond_rows == c0]
    expected = np.sqrt(sel.size * np.var(sel, ddof=1))
    assert scr.set_index("condition").loc[c0, "dse"] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(SimstatsError, match="reference"):
        elpd_by_condition({"truthish": good, "scrambled": bad}, reference="nope")
