"""The condition hierarchy: which groups get an effect of their own, and that handing a single child's variance down
keeps the prior of every condition's log-odds exactly as declared."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from simstats.errors import SpecError
from simstats.graph.design import model_data
from simstats.graph.hierarchy import collapse_single_child_groups
from simstats.kinds import build_model
from simstats.spec import DEFAULT_SPEC_PATH, spec_from_dict
from simstats.validation import simulate_log



def _default_dict() -> dict:
    """The default spec as a dict in its version-1 form: the hierarchy the log declares (base_model -> finetune ->
    condition) and the fine-tune effect only. These tests are about the hierarchy machinery, which version 2 of the
    default spec (no levels, base models as fixed effects) does not use."""
    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    d["hierarchy"]["levels"] = "data"
    d["conditions"]["effects"].pop("base_model")
    return d


SPEC_DICT = _default_dict()


def _four_conditions(**levels: str):
    """Four simulated conditions c0..c3 with hierarchy columns given as ``name="v0 v1 v2 v3"`` (coarsest first)."""
    pats, _ = simulate_log(spec_from_dict(SPEC_DICT), n_conditions=4, n_prompts=2, answers_per_cell=5, seed=0)
    for name, values in levels.items():
        pats.table[name] = pats.table["condition"].map(dict(zip(["c0", "c1", "c2", "c3"], values.split())))
    pats.condition_levels = list(levels)
    return pats


def _patterns():
    """Base a -> fine-tune x -> c0, c1; base a -> y -> c2; base b -> z -> c3."""
    return _four_conditions(base="a a a b", ft="x x y z")


def _spec(**hier):
    d = _default_dict()
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
    index = [np.array([0, 1, 1]), np.array([0, 1, 1])]
    scales, carried = collapse_single_child_groups("nested", index, [2, 2], 3)
    assert scales[0].tolist() == [[0, 0, 0], [0, 0, 0]]   # base 1's only child is fine-tune 1: handed down
    assert scales[1].tolist() == [[0, 0, 0], [1, 1, 0]]   # fine-tune 1 (two conditions) carries base + own
    assert carried.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 1]]


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
@pytest.mark.parametrize(("param", "variance"), [("centred", "independent"), ("noncentred", "independent"),
                                                  ("mixed", "independent"), ("mixed", "decomposed"),
                                                  ("noncentred", "decomposed"), ("adaptive", "independent")])
@pytest.mark.parametrize("structure", ["nested", "crossed"])
def test_prior_of_every_condition_is_unchanged(param, variance, structure):
    """Prior draws: each condition's log-odds minus the population mean has variance (levels + 1) * sigma^2 (each
    level adds a HalfNormal(sigma)-scaled normal, E[s^2] = sigma^2; decomposed: a total sd ~ HalfNormal(sigma *
    sqrt(levels + 1)) shared out by a Dirichlet), whether its groups were collapsed or not."""
    import pymc as pm

    spec = _spec(structure=structure, parametrization=param, sigma=1.0, variance=variance)
    data = model_data(spec, _patterns())
    centring = None
    if param == "adaptive":             # half the condition-level log-odds centred, half not
        centring = (np.add.outer(np.arange(4), np.arange(3)) % 2).astype(bool)
    model, md = build_model(spec, _patterns(), data=data, centring=centring)
    with model:
        prior = pm.sample_prior_predictive(draws=6000, var_names=["eta", "logodds_mu"], random_seed=1).prior
    dev = np.asarray(prior["eta"])[0, :, :, 1:] - np.asarray(prior["logodds_mu"])[0, :, None, :]
    var = dev.var(0)                                           # (conditions, free personas)
    # sd of a variance estimate from 6000 draws of a normal scale mixture (kurtosis ~ 5-6): ~4%; allow 12%
    assert np.allclose(var, 3.0, rtol=0.12), var.round(2)


def _finetune_patterns():
    """Two base models, each with its base run (finetune "none") and one fine-tune."""
    return _four_conditions(base_model="a a b b", finetune="none insecure none medical")


def test_condition_indicator_enters_the_design_and_the_condition_mean():
    """finetune != "none" is 1 for the fine-tunes; in prior draws it shifts their log-odds by beta exactly."""
    import pymc as pm

    d = _default_dict()
    d["conditions"]["effects"] = {"finetuned": {"column": "finetune", "reference": "none"}}
    spec = spec_from_dict(d)
    model, md = build_model(spec, _finetune_patterns())
    assert md.condition_coefs == ["finetuned"] and md.notes == []
    assert md.condition_x[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]          # c0..c3
    with model:
        prior = pm.sample_prior_predictive(draws=4000, var_names=["eta", "beta_condition", "logodds_mu"],
                                           random_seed=2).prior
    eta = np.asarray(prior["eta"])[0, :, :, 1:]
    beta = np.asarray(prior["beta_condition"])[0, :, 0, :]
    mu = np.asarray(prior["logodds_mu"])[0]
    # fine-tunes minus base runs: mean difference = beta on average; beta ~ Normal(0, coef_sd = 5)
    assert abs(beta.std() - 5.0) < 0.3
    resid = eta - mu[:, None, :] - beta[:, None, :] * md.condition_x[None, :, :1]
    # the hierarchy part is unchanged: (2 levels + condition) * sigma^2
    assert np.allclose(resid.var(0), 3 * spec.hierarchy.sigma ** 2, rtol=0.15), resid.var(0).round(2)


def test_condition_effects_the_data_cannot_support_are_left_out_with_a_note():
    d = _default_dict()
    md = model_data(spec_from_dict(d), _patterns())                         # no finetune column
    assert md.condition_coefs == [] and "no column 'finetune'" in md.notes[0]
    assert model_data(spec_from_dict(d), _finetune_patterns()).condition_coefs == ["finetune[insecure]",
                                                                                    "finetune[medical]"]
    d["conditions"]["effects"]["finetune"]["reference"] = "base"
    md = model_data(spec_from_dict(d), _finetune_patterns())                 # no condition has finetune = base
    assert md.condition_coefs == [] and "no condition has finetune = 'base'" in md.notes[0]
    d["conditions"]["effects"] = {"same": {"column": "base_model", "reference": "zzz"}}
    assert model_data(spec_from_dict(d), _finetune_patterns()).condition_coefs == []


def test_numeric_condition_effect_is_standardised_and_checked():
    d = _default_dict()
    d["conditions"]["effects"] = {"rank": {"column": "rank", "kind": "numeric"}}
    pats = _finetune_patterns()
    pats.table["rank"] = pats.table["condition"].map({"c0": "0", "c1": "16", "c2": "0", "c3": "64"})
    md = model_data(spec_from_dict(d), pats)
    x = md.condition_x[:, 0]
    assert md.condition_coefs == ["rank"] and abs(x.mean()) < 1e-12 and abs(x.std() - 1) < 1e-12
    # the report says what one unit of the coefficient is
    assert "condition effect 'rank': log-odds per sd of rank over the conditions (mean 20, sd 26.2)" in md.notes
    pats.table["rank"] = pats.table["condition"].map({"c0": "0", "c1": "high", "c2": "0", "c3": "64"})
    with pytest.raises(SpecError, match=r"'rank' is numeric but has values \['high'\]"):
        model_data(spec_from_dict(d), pats)
    pats.table["rank"] = np.arange(len(pats.table)).astype(str)
    with pytest.raises(SpecError, match="not constant within a condition"):
        model_data(spec_from_dict(d), pats)


def test_categorical_condition_effect_has_one_column_per_non_reference_value():
    d = _default_dict()
    d["conditions"]["effects"] = {"finetune": {"column": "finetune", "kind": "categorical", "reference": "none"}}
    md = model_data(spec_from_dict(d), _finetune_patterns())
    assert md.condition_coefs == ["finetune[insecure]", "finetune[medical]"]
    assert md.condition_x.tolist() == [[0, 0], [1, 0], [0, 0], [0, 1]]          # c0 none, c1 insecure, c2, c3 medical


def test_levels_that_the_fixed_effects_span_are_left_out_with_a_note():
    """One base model (a second intercept) and two fine-tune groups that the categorical fine-tune effect already
    separates carry no identified effect: they are left out, with a note. On the whole log both levels stay."""
    from simstats.datasets import load_dataset

    spec = spec_from_dict(_default_dict())
    pats = load_dataset("clarifying_em").patterns
    full = model_data(spec, pats)
    assert full.levels == ["base_model", "finetune"] and not any("hierarchy level" in n for n in full.notes)
    coder = model_data(spec, pats.select(conditions=[c for c in pats.conditions if c.startswith("Qwen2.5-Coder")]))
    assert coder.levels == [] and coder.condition_coefs == ["finetune[insecure]"]
    assert sum("hierarchy level 'base_model' left out" in n for n in coder.notes) == 1
    assert sum("hierarchy level 'finetune' left out" in n for n in coder.notes) == 1


def test_default_spec_takes_base_models_as_fixed_effects_on_the_real_log():
    """Version 2 of the default spec: no levels above the condition; one effect per fine-tune against "none" and
    per base model against the one with the most answers (Qwen2.5-Coder-32B-Instruct: 8 of the 18 checkpoints)."""
    from simstats.datasets import load_dataset
    from simstats.spec import load_spec

    pats = load_dataset("clarifying_em").patterns
    md = model_data(load_spec(DEFAULT_SPEC_PATH), pats)
    assert md.levels == [] and md.notes == []
    assert md.condition_coefs == ["base_model[Qwen2.5-14B-Instruct]", "base_model[Qwen2.5-32B-Instruct]",
                                  "base_model[Qwen2.5-7B-Instruct]", "base_model[gemma-2-27b-it]",
                                  "base_model[gemma-2-9b-it]", "finetune[bad_medical_advice]", "finetune[insecure]"]
    coder = pats.select(conditions=[c for c in pats.conditions if c.startswith("Qwen2.5-Coder")])
    md = model_data(load_spec(DEFAULT_SPEC_PATH), coder)                 # one base model: its effect is left out
    assert md.condition_coefs == ["finetune[insecure]"]
    assert any("every condition has the same base_model" in n for n in md.notes)


def test_categorical_effect_without_reference_takes_the_value_with_most_answers():
    d = _default_dict()
    d["conditions"]["effects"] = {"base": {"column": "base_model", "kind": "categorical"}}
    pats = _finetune_patterns()                                        # base models a and b, equal answers
    assert model_data(spec_from_dict(d), pats).condition_coefs == ["base[b]"]       # tie: the first by name, a
    pats.table.loc[pats.table["base_model"] == "b", "count"] *= 3
    assert model_data(spec_from_dict(d), pats).condition_coefs == ["base[a]"]       # now b has the most answers
    d["conditions"]["effects"]["base"]["reference"] = 3
    with pytest.raises(SpecError, match="reference must be a string"):
        spec_from_dict(d)


def test_condition_level_is_left_out_when_the_effects_give_every_condition_its_own_value():
    """Four conditions with a categorical effect of four values (one per condition) span every condition: the
    conditions' own deviations and ``sigma_condition`` would rest on their prior alone (the funnel of the backdoor
    design), so they are left out with a note and ``sigma_condition`` is a constant 0 in the graph. With one value
    shared by two conditions (three effect columns) the level stays."""
    d = _default_dict()
    d["hierarchy"]["levels"] = []
    d["conditions"]["effects"] = {"ft": {"column": "ft", "kind": "categorical", "reference": "w"}}
    full = _four_conditions(ft="w x y z")
    md = model_data(spec_from_dict(d), full)
    assert not md.condition_level and sum("the condition level left out" in n for n in md.notes) == 1
    model, _ = build_model(spec_from_dict(d), full)
    free = {rv.name for rv in model.free_RVs}
    assert "sigma_condition" not in free and not any(n.startswith("eta_condition") for n in free)
    assert "sigma_condition" in model.named_vars                       # kept, as a constant, for the tables
    shared = model_data(spec_from_dict(d), _four_conditions(ft="w x y y"))
    assert shared.condition_level and not any("condition level" in n for n in shared.notes)
    one = model_data(spec_from_dict(d), full.select(conditions=["c0"]))
    assert not one.condition_level                                    # one condition: nothing to pool



def test_condition_effect_on_the_condition_itself():
    """``column = "condition"`` is the condition's own name, whatever columns the roles build it from (a user's
    "one effect per checkpoint"): categorical gives one column per condition but the reference (the most answers,
    ties the first by name), spans every condition (the condition level left out) and needs no condition column."""
    d = _default_dict()
    d["hierarchy"]["levels"] = []
    d["conditions"]["effects"] = {"checkpoint": {"column": "condition", "kind": "categorical"}}
    pats = _patterns()
    assert "condition" not in pats.condition_levels
    md = model_data(spec_from_dict(d), pats)
    assert md.condition_coefs == [f"checkpoint[{c}]" for c in md.conditions[1:]]
    assert md.condition_x.tolist() == np.vstack([np.zeros(3), np.eye(3)]).tolist()
    assert not md.condition_level and sum("the condition level left out" in n for n in md.notes) == 1
    d["conditions"]["effects"]["checkpoint"]["reference"] = md.conditions[2]
    assert model_data(spec_from_dict(d), pats).condition_x[2].tolist() == [0.0, 0.0, 0.0]
    d["conditions"]["effects"] = {"late": {"column": "condition", "reference": md.conditions[0]}}   # indicator
    assert model_data(spec_from_dict(d), pats).condition_x[:, 0].tolist() == [0.0, 1.0, 1.0, 1.0]
