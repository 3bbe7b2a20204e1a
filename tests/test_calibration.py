"""Calibration machinery (coverage and SBC): the simulator reproduces a parameter draw, quantities are computed
the same way for truth and posterior, and a short real study runs end to end through the compiled-once refitter.

The full studies (many replications, default sampler settings) are `scripts/calibration_study.py`; their tables are
in `validation/`. Here the fits are short (2 chains x 300 draws), so only properties that hold for any fit are
asserted, plus a loose coverage floor that a broken pipeline (truth and posterior misaligned, wrong labels, wrong
simulator) fails: such bugs give coverage near 0, a correct one about 0.9 (0.5 is far below either's noise).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simstats.errors import SpecError
from simstats.kinds import build_model
from simstats.kinds.mixture.tables import condition_shares
from simstats.spec import DEFAULT_SPEC_PATH, load_spec
from simstats.validation.calibration import (CalibrationStudy, StudyDesign, coverage_table, quantities,
                                             sbc_table, simulate_from_draw, small_design, template_patterns)

SPEC = load_spec(DEFAULT_SPEC_PATH)


def _prior_draw(model, seed):
    import pymc as pm

    names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
    with model:
        prior = pm.sample_prior_predictive(draws=1, var_names=names, random_seed=seed).prior
    return {k: np.asarray(prior[k])[0, 0] for k in names}


def test_simulated_log_follows_the_drawn_parameters():
    """20,000 answers per cell: per condition, the frequency of each aligned category matches the mixture
    sum_k share_k fp_k implied by the draw (within 5 binomial standard errors)."""
    design = StudyDesign("big", 2, 2, 20000, formats=("plain",))
    model, data = build_model(SPEC, template_patterns(SPEC, design))
    draw = _prior_draw(model, 3)
    pats = simulate_from_draw(data, draw, np.random.default_rng(0))
    t = pats.table
    assert t.groupby("condition")["count"].sum().tolist() == [40000, 40000]
    shares = condition_shares({k: v[None, None] for k, v in draw.items()}, data)[0, 0]      # (C, K)
    expect = shares @ draw["fp_aligned"]                                                    # (C, categories)
    for c, cond in enumerate(data.conditions):
        sub = t[t["condition"] == cond]
        cat = np.where(sub["aligned"] < 0, 0, sub["aligned"] + 1)
        obs = np.bincount(cat, weights=sub["count"], minlength=expect.shape[1]) / sub["count"].sum()
        se = np.sqrt(expect[c] * (1 - expect[c]) / sub["count"].sum()) + 1e-9
        assert np.all(np.abs(obs - expect[c]) <= 5 * se + 1e-6), (obs.round(4), expect[c].round(4))


def test_quantities_of_a_draw_are_those_of_the_model():
    model, data = build_model(SPEC, template_patterns(SPEC, small_design()))
    draw = _prior_draw(model, 4)
    q = quantities({k: v[None, None] for k, v in draw.items()}, data)
    shares, labels = q["persona shares"]
    assert shares.shape == (1, 1, len(data.conditions) * len(data.personas)) and len(labels) == shares.shape[-1]
    assert np.allclose(shares.reshape(len(data.conditions), -1).sum(-1), 1.0)
    sig, _ = q["hierarchy sds"]
    assert np.allclose(sig[0, 0], draw["sigma_condition"])
    fp = draw["fp_aligned"]
    centres = data.patterns.grids["aligned"].centres
    means, _ = q["fingerprint mean score"]
    assert np.allclose(means[0, 0, : len(data.personas)], (fp[:, 1:] * centres).sum(1) / fp[:, 1:].sum(1))


@pytest.fixture(scope="module")
def study():
    return CalibrationStudy(SPEC, small_design(), draws=300, tune=300, chains=2)


def test_short_study_runs_end_to_end(study):
    rec = study.run(2, seed=11, progress=None)
    groups = {"persona shares", "fingerprint mean score", "fingerprint no-score rate", "hierarchy sds",
              "population log-odds", "question sd", "feature effects"}
    assert set(rec["group"]) == groups and rec["replication"].nunique() == 2
    assert rec["rank"].between(0, study.n_ranks).all()
    assert not (rec["in50"] & ~rec["in90"]).any()                    # the 50% interval lies inside the 90% one
    cov = coverage_table(rec)
    assert cov.loc["persona shares", "cover90"] >= 0.5, cov
    sbc = sbc_table(rec, n_ranks=study.n_ranks)
    assert set(sbc.index) == groups and (sbc["p"].between(0, 1)).all()


def test_refitter_refuses_a_log_of_another_design(study):
    other = template_patterns(SPEC, StudyDesign("other", 4, 4, 20))
    with pytest.raises(SpecError, match="design differs"):
        study.refitter.fit(other, seed=0)


def test_a_design_with_a_hierarchy_level_refits():
    """Conditions under base models (as in the realistic design): the level's indices are constants of the compiled
    graph, so nutpie drops their shared variable and the refit must not pass it (it raised KeyError before)."""
    # the default spec takes base models as fixed effects (version 2); pool them as a level, as version 1 did
    nested = dataclasses.replace(
        SPEC, hierarchy=dataclasses.replace(SPEC.hierarchy, levels=None),
        conditions=dataclasses.replace(SPEC.conditions, effects={k: v for k, v in SPEC.conditions.effects.items()
                                                                 if k != "base_model"}))
    grouped = CalibrationStudy(nested, StudyDesign("grouped", 4, 2, 10, groups=(2, 2)), draws=100, tune=150,
                               chains=2)
    assert grouped.data.levels == ["base_model"]
    rec = grouped.run(1, seed=5, progress=None)
    assert "hierarchy sds" in set(rec["group"]) and rec["quantity"].str.startswith("base_model/").any()


def test_the_saved_small_study_calibrates_the_current_default_model():
    """validation/calibration_small.* was run with version 1 of the default spec (hierarchy levels from the data,
    fine-tune effect only). On the small design, which has no base_model or finetune column, version 2 builds the
    same model: the same free variables and the same log density at a random point."""
    from simstats.spec import spec_from_dict, spec_source

    d = spec_source(SPEC)
    d["hierarchy"]["levels"] = "data"
    d["conditions"]["effects"].pop("base_model")
    v1 = spec_from_dict(d)
    pats = template_patterns(SPEC, small_design())
    m1, _ = build_model(v1, pats)
    m2, _ = build_model(SPEC, pats)
    assert [v.name for v in m1.free_RVs] == [v.name for v in m2.free_RVs]
    rng = np.random.default_rng(0)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in m1.initial_point().items()}
    assert float(m1.compile_logp()(point)) == pytest.approx(float(m2.compile_logp()(point)), rel=1e-12)
