"""The condition hierarchy: which groups get an effect of their own, and that handing a single child's variance down
keeps the prior of every condition's log-odds exactly as declared."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from simstats.builders import _collapse_single_child_groups, build_model, model_data
from simstats.simulate import simulate_log
from simstats.spec import DEFAULT_SPEC_PATH, spec_from_dict

SPEC_DICT = tomllib.loads(DEFAULT_SPEC_PATH.read_text())


def _patterns():
    """Four conditions: base a -> fine-tune x -> c0, c1; base a -> y -> c2; base b -> z -> c3."""
    pats, _ = simulate_log(spec_from_dict(SPEC_DICT), n_conditions=4, n_prompts=2, answers_per_cell=5, seed=0)
    t = pats.table
    t["base"] = t["condition"].map({"c0": "a", "c1": "a", "c2": "a", "c3": "b"})
    t["ft"] = t["condition"].map({"c0": "x", "c1": "x", "c2": "y", "c3": "z"})
    pats.condition_levels = ["base", "ft"]
    return pats


def _spec(**hier):
    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    d["hierarchy"].update(hier)
    return spec_from_dict(d)


def test_nested_single_children_hand_their_variance_down():
    md = model_data(_spec(structure="nested"), _patterns())
    assert md.level_groups == [["a", "b"], ["a/x", "a/y", "b/z"]]
    assert md.free_groups == [["a"], ["a/x"]]
    # columns: var(base), var(ft), var(condition)
    assert md.condition_scale.tolist() == [[0, 0, 1], [0, 0, 1], [0, 1, 1], [1, 1, 1]]
    assert md.free_group_index(0).tolist() == [0, 0, 0, -1]
    assert md.free_group_index(1).tolist() == [0, 0, -1, -1]


def test_crossed_single_member_groups_hand_their_variance_down():
    md = model_data(_spec(structure="crossed"), _patterns())
    assert md.level_groups == [["a", "b"], ["x", "y", "z"]]
    assert md.free_groups == [["a"], ["x"]]
    assert md.condition_scale.tolist() == [[0, 0, 1], [0, 0, 1], [0, 1, 1], [1, 1, 1]]


def test_collapse_walks_chains_of_single_children():
    # one base with one fine-tune with one condition, beside a base with two conditions under one fine-tune
    scales, carried = _collapse_single_child_groups("nested", [np.array([0, 1, 1]), np.array([0, 1, 1])], [2, 2], 3)
    assert scales[0].tolist() == [[0, 0, 0], [0, 0, 0]]   # base 1's only child is fine-tune 1: handed down
    assert scales[1].tolist() == [[0, 0, 0], [1, 1, 0]]   # fine-tune 1 (two conditions) carries base + own
    assert carried.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 1]]


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
@pytest.mark.parametrize(("param", "variance"), [("centred", "independent"), ("noncentred", "independent"),
                                                  ("mixed", "independent"), ("mixed", "decomposed"),
                                                  ("noncentred", "decomposed")])
@pytest.mark.parametrize("structure", ["nested", "crossed"])
def test_prior_of_every_condition_is_unchanged(param, variance, structure):
    """Prior draws: each condition's log-odds minus the population mean has variance (levels + 1) * sigma^2 (each
    level adds a HalfNormal(sigma)-scaled normal, E[s^2] = sigma^2; decomposed: a total sd ~ HalfNormal(sigma *
    sqrt(levels + 1)) shared out by a Dirichlet), whether its groups were collapsed or not."""
    import pymc as pm

    spec = _spec(structure=structure, parametrization=param, sigma=1.0, variance=variance)
    model, md = build_model(spec, _patterns())
    with model:
        prior = pm.sample_prior_predictive(draws=6000, var_names=["eta", "logodds_mu"], random_seed=1).prior
    dev = np.asarray(prior["eta"])[0, :, :, 1:] - np.asarray(prior["logodds_mu"])[0, :, None, :]
    var = dev.var(0)                                           # (conditions, free personas)
    # sd of a variance estimate from 6000 draws of a normal scale mixture (kurtosis ~ 5-6): ~4%; allow 12%
    assert np.allclose(var, 3.0, rtol=0.12), var.round(2)
