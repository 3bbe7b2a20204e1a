"""Spec loading and validation: the shipped spec loads; mistakes give SpecError naming the key and a suggestion."""

from __future__ import annotations

import copy
import tomllib

import pytest

from simstats.errors import SpecError
from simstats.spec import DEFAULT_SPEC_PATH, ModelSpec, load_spec, spec_from_dict


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads(DEFAULT_SPEC_PATH.read_text())


def test_default_spec_loads():
    spec = load_spec(DEFAULT_SPEC_PATH)
    assert isinstance(spec, ModelSpec)
    assert spec.persona_names == ["aligned", "misaligned", "careless", "code_or_incoherent"]
    assert spec.measure_names == ["aligned", "coherent"]
    assert {m.likelihood for m in spec.measures} == {"categorical"}
    assert spec.prompt.question_effect == "zerosum"
    assert spec.prompt.reference == {"format": "plain"}
    assert spec.personas[3].anchors["aligned"].no_score == pytest.approx(0.6)
    assert spec.sampler.name == "nutpie"


def test_hash_is_stable_and_sensitive(raw):
    a, b = spec_from_dict(copy.deepcopy(raw)), spec_from_dict(copy.deepcopy(raw))
    assert a.hash() == b.hash()
    changed = copy.deepcopy(raw)
    changed["priors"]["anchor_strength"] = 3.0
    assert spec_from_dict(changed).hash() != a.hash()


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(persoans=d.pop("personas")), r"unknown key 'persoans'.*did you mean 'personas'"),
    (lambda d: d["measures"]["aligned"].update(likelihod="categorical"), r"did you mean 'likelihood'"),
    (lambda d: d["measures"]["aligned"].update(likelihood="categorial"), r"did you mean 'categorical'"),
    (lambda d: d["hierarchy"].update(structure="nestd"), r"did you mean 'nested'"),
    (lambda d: d["prompt"].update(question_effect="zero_sum"), r"did you mean 'zerosum'"),
    (lambda d: d["personas"][1]["anchors"].pop("coherent"), r"persona 'misaligned' has no anchor for measure 'coherent'"),
    (lambda d: d["personas"][1]["anchors"]["aligned"].update(no_score=1.5), r"no_score must be <= 0.99"),
    (lambda d: d["personas"][1].update(logodds={"mean": -3, "sd": 0}), r"logodds.sd must be > 0"),
    (lambda d: d.update(personas=[]), r"at least one persona"),
    (lambda d: d["personas"][3].update(name="aligned"), r"persona names must be unique"),
    (lambda d: d["measures"]["aligned"].update(bins=0), r"bins must be >= 1"),
    (lambda d: d["sampler"].update(name="stan"), r"sampler.name = 'stan' is not one of"),
    (lambda d: d["model"].pop("name"), r"needs a non-empty string 'name'"),
    (lambda d: d["conditions"]["effects"]["finetune"].update(kind="indicatr"), r"did you mean 'indicator'"),
    (lambda d: d["conditions"]["effects"]["finetune"].update(kind="indicator") or d["conditions"]["effects"]["finetune"].pop("reference"), r"finetune \(kind indicator\) needs a string 'reference'"),
    (lambda d: d["conditions"]["effects"]["finetune"].update(reference=1), r"finetune.reference must be a string"),
    (lambda d: d["conditions"]["effects"]["finetune"].update(kind="numeric"), r"numeric and takes no 'reference'"),
    (lambda d: d["conditions"]["effects"]["finetune"].pop("column"), r"effects.finetune needs a string 'column'"),
    (lambda d: d["conditions"].update(coef_sd=0), r"conditions.coef_sd must be > 0"),
    (lambda d: d["conditions"].update(effect={}), r"did you mean 'effects'"),
])
def test_bad_specs_raise_clear_errors(raw, mutate, match):
    d = copy.deepcopy(raw)
    mutate(d)
    with pytest.raises(SpecError, match=match):
        spec_from_dict(d, source="x.toml")


def test_error_names_the_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[model\nname = 1")
    with pytest.raises(SpecError, match=r"broken.toml: not valid TOML"):
        load_spec(p)
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.toml")


def test_minimal_spec_with_defaults():
    spec = spec_from_dict({
        "model": {"name": "two"},
        "personas": [{"name": "a", "anchors": {"s": {"mean": 90}}},
                     {"name": "b", "anchors": {"s": {"mean": 10, "no_score": 0.2}}}],
        "measures": {"s": {"likelihood": "binned_beta", "bins": "data"}},
    })
    assert spec.measures[0].bins is None
    assert spec.hierarchy.levels is None and spec.prompt.features is None
    assert spec.personas[1].logodds == (-2.0, 2.0)


def test_build_rejects_spec_data_mismatch():
    """Measures, features and levels the data lacks are SpecErrors at build time."""
    from simstats.graph.design import model_data
    from simstats.validation import simulate_log

    spec = load_spec(DEFAULT_SPEC_PATH)
    pats, _ = simulate_log(spec, n_conditions=2, n_prompts=2, answers_per_cell=5, seed=0)
    bad = spec_from_dict({**tomllib.loads(DEFAULT_SPEC_PATH.read_text()),
                          "hierarchy": {"levels": ["base_model"]}})
    with pytest.raises(SpecError, match="hierarchy level 'base_model' is not a column"):
        model_data(bad, pats)
    bad = spec_from_dict({**tomllib.loads(DEFAULT_SPEC_PATH.read_text()),
                          "prompt": {"reference": {"format": "yaml"}}})
    with pytest.raises(SpecError, match="prompt.reference.format = 'yaml' is not a level"):
        model_data(bad, pats)
    bad = spec_from_dict({**tomllib.loads(DEFAULT_SPEC_PATH.read_text()),
                          "measures": {"aligned": {"bins": 3}, "coherent": {}}})
    with pytest.raises(SpecError, match="does not divide"):
        model_data(bad, pats)


def test_stored_spec_round_trips_with_non_default_values():
    """What save_result stores must load back to the same spec (else load_result refuses it as edited)."""
    from dataclasses import replace

    from simstats.spec import DEFAULT_SPEC_PATH, ConditionEffect, load_spec, spec_from_dict, spec_source

    spec = load_spec(DEFAULT_SPEC_PATH)
    spec = replace(spec, hierarchy=replace(spec.hierarchy, levels=("base_model",), structure="crossed",
                                           parametrization="centred", sigma=0.7,
                                           variance="independent" if spec.hierarchy.variance == "decomposed"
                                           else "decomposed"),
                   prompt=replace(spec.prompt, features=("format",), question_effect="normal"),
                   conditions=replace(spec.conditions, coef_sd=2.5,
                                      effects={**spec.conditions.effects,
                                               "rank": ConditionEffect("lora_rank", "numeric")}),
                   anchor_strength=3.0)
    again = spec_from_dict(spec_source(spec))
    assert again.to_dict() == spec.to_dict() and again.hash() == spec.hash()


def test_keys_added_later_keep_old_hashes():
    """A result saved before `hierarchy.variance` existed must still match its stored spec hash: the key is left
    out of the hashed dict at its default, and changes the hash when set otherwise."""
    import tomllib

    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    d["hierarchy"].pop("variance", None)
    old = spec_from_dict(d)
    d["hierarchy"]["variance"] = "independent"
    assert spec_from_dict(d).hash() == old.hash() and "variance" not in old.to_dict()["hierarchy"]
    d["hierarchy"]["variance"] = "decomposed"
    assert spec_from_dict(d).hash() != old.hash()


def test_condition_effects_section_added_later_keeps_old_hashes():
    """A spec without [conditions] hashes as before that section existed; adding an effect changes the hash."""
    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    effects = d.pop("conditions")
    old = spec_from_dict(d)
    assert "conditions" not in old.to_dict()
    d["conditions"] = {"coef_sd": 5.0, "effects": {}}
    assert spec_from_dict(d).hash() == old.hash()
    d["conditions"] = effects
    assert spec_from_dict(d).hash() != old.hash()
    assert spec_from_dict(d).conditions.effects["finetune"].reference == "none"


def test_condition_effects_take_one_order_whatever_the_file_order():
    """The hash ignores key order, so the model must too: effects are kept sorted by name, and a spec read back
    from a stored result (whose JSON may order keys differently) gives the same coefficient order."""
    import json

    from simstats.spec import spec_source

    d = tomllib.loads(DEFAULT_SPEC_PATH.read_text())
    d["conditions"]["effects"] = {"zeta": {"column": "z", "kind": "categorical"},
                                  "alpha": {"column": "a", "kind": "categorical", "reference": "none"}}
    spec = spec_from_dict(d)
    assert list(spec.conditions.effects) == ["alpha", "zeta"]
    again = spec_from_dict(json.loads(json.dumps(spec_source(spec), sort_keys=True)))
    assert list(again.conditions.effects) == ["alpha", "zeta"] and again.hash() == spec.hash()
