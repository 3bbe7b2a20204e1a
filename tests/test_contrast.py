"""Contrasts and the evidence table (issue 15): a contrast of two conditions is the posterior of the difference of
their shares draw by draw (so it is antisymmetric and its mean is the difference of the share means), a behaviour's
contrast is the difference of its predicted rates, a prompt feature's contrast is taken within each condition, the
evidence of a one-hot prompt feature is its log-odds coefficient against the reference persona, and a name that is
not in the fit is refused with the closest names. Exact identities on one short real fit: no tolerance but
floating-point round-off is needed."""

from __future__ import annotations

import numpy as np
import pytest

from simstats import fit
from simstats.errors import SimstatsError
from simstats.results.contrast import contrast_dict
from simstats.spec import default_spec_path, load_spec
from simstats.validation import simulate_log


@pytest.fixture(scope="module")
def small_fit():
    spec = load_spec(default_spec_path())
    pats, _ = simulate_log(spec, n_conditions=3, n_prompts=4, features={"format": ["plain", "json"]},
                           answers_per_cell=40, seed=5)
    return fit(spec, pats, draws=150, tune=150, chains=2, seed=2, progress=False)


def test_condition_contrast_is_the_share_difference_draw_by_draw(small_fit):
    r = small_fit
    a, b = r.conditions[1], r.conditions[0]
    t = r.contrast(a, b)
    s = r.share_draws()
    for k, p in enumerate(r.personas):
        d = s[..., 1, k] - s[..., 0, k]
        assert t.loc[p, "mean"] == pytest.approx(d.mean(), abs=1e-12)
        assert t.loc[p, "p_gt_0"] == pytest.approx((d > 0).mean())
        assert t.loc[p, "low"] <= t.loc[p, "mean"] <= t.loc[p, "high"]
    back = r.contrast(b, a)
    np.testing.assert_allclose(back["mean"], -t["mean"], atol=1e-12)
    assert t["mean"].sum() == pytest.approx(0.0, abs=1e-9)       # shares sum to one in both conditions
    assert t.attrs["of"] == "share" and contrast_dict(t)["rows"][0]["persona"] == r.personas[0]


def test_behaviour_contrast_is_the_rate_difference(small_fit):
    r = small_fit
    t = r.contrast(r.conditions[2], r.conditions[0], behaviour=r.behaviours[0].name)
    rate = r.behaviour_rate_draws(r.behaviours[0].name)
    assert t.iloc[0]["mean"] == pytest.approx((rate[..., 2] - rate[..., 0]).mean(), abs=1e-12)
    assert t.attrs["of"] == "rate"


def test_feature_contrast_is_within_each_condition(small_fit):
    r = small_fit
    t = r.contrast("json", "plain", feature="format", persona=r.personas[1])
    assert list(t.index.get_level_values("condition")) == list(r.conditions)
    fs = r.feature_shares("format")["mean"]                  # indexed by (condition, level, persona)
    p = r.personas[1]
    for c in r.conditions:
        assert t.loc[(c, p), "mean"] == pytest.approx(fs[(c, "json", p)] - fs[(c, "plain", p)], abs=1e-9)
    assert t["p_gt_0"].between(0, 1).all()


def test_contrast_at_a_feature_value_compares_conditions_there(small_fit):
    r = small_fit
    a, b, p = r.conditions[1], r.conditions[0], r.personas[1]
    t = r.contrast(a, b, persona=p, at="format=json")
    fs = r.feature_shares("format")["mean"]
    assert t.loc[p, "mean"] == pytest.approx(fs[(a, "json", p)] - fs[(b, "json", p)], abs=1e-9)
    assert t.attrs["at"] == "format=json"
    name = r.behaviours[0].name
    rate = r.contrast(a, b, behaviour=name, at="format=plain").iloc[0]["mean"]
    by_level = r.contrast("plain", "plain", feature="format", behaviour=name)      # zero, but checks the table
    assert (by_level["mean"] == 0).all()
    from simstats.results.contrast import _at_level

    per_condition, _ = _at_level(r, "format", 0, name)
    assert rate == pytest.approx((per_condition[..., 1] - per_condition[..., 0]).mean(), abs=1e-12)
    for bad, needle in (("format", "FEATURE=VALUE"), ("colour=red", "prompt feature"),
                        ("format=jsn", "did you mean")):
        with pytest.raises(SimstatsError, match=needle):
            r.contrast(a, b, at=bad)
    with pytest.raises(SimstatsError, match="give one of them"):
        r.contrast("json", "plain", feature="format", at="format=json")


def test_evidence_of_a_feature_is_its_coefficient_against_the_reference(small_fit):
    r = small_fit
    ev = r.evidence()
    assert len(ev) and set(ev["source"]) >= {"prompt feature"}
    term = [t for t, _ in ev.index if "json" in t][0]
    coef = r.feature_effects()
    # the table's coefficient of the same term for the first non-reference persona (log-odds against reference)
    p = r.personas[1]
    row = coef.reset_index()
    match = row[row.apply(lambda x: "json" in " ".join(map(str, x.values)) and p in " ".join(map(str, x.values)),
                          axis=1)]
    assert len(match) == 1
    assert ev.loc[(term, p), "mean"] == pytest.approx(float(match["mean"].iloc[0]), abs=1e-9)


@pytest.mark.parametrize("args, needle", [(("c1x", "c0"), "did you mean"), (("c1", "c0"), None)])
def test_unknown_names_are_refused_with_suggestions(small_fit, args, needle):
    r = small_fit
    if needle is None:
        with pytest.raises(SimstatsError, match="persona"):
            r.contrast(*args, persona="nobody")
        with pytest.raises(SimstatsError, match="prompt feature"):
            r.contrast("a", "b", feature="colour")
        with pytest.raises(SimstatsError, match="not both"):
            r.contrast(*args, persona=r.personas[0], behaviour=r.behaviours[0].name)
    else:
        with pytest.raises(SimstatsError, match=needle):
            r.contrast(*args)


def test_cli_contrast_prints_the_table_and_json(small_fit, tmp_path, monkeypatch, capsys):
    import json

    from conftest import run_cli

    from simstats.results import save_result

    r = small_fit
    run = save_result(r, tmp_path / "run")
    a, b = r.conditions[1], r.conditions[0]
    code, out, err = run_cli(["contrast", str(run), a, b, "--json"], monkeypatch, capsys)
    if r.diagnostics.status == "failed":       # the command refuses a failed fit, and says so
        assert code == 1 and "failed" in err
        return
    assert code == 0, err
    rep = json.loads(out)
    assert rep["a"] == a and rep["b"] == b and [x["persona"] for x in rep["rows"]] == list(r.personas)
    expect = r.contrast(a, b)["mean"].to_numpy()
    np.testing.assert_allclose([x["mean"] for x in rep["rows"]], expect, atol=1e-9)
    code, out, err = run_cli(["contrast", str(run), "json", "plain", "--feature", "format",
                              "--persona", r.personas[1]], monkeypatch, capsys)
    assert code == 0 and "format=json minus format=plain" in out and r.personas[1] in out
    code, out, err = run_cli(["contrast", str(run), a, b, "--at", "format=json", "--persona", r.personas[1]],
                             monkeypatch, capsys)
    assert code == 0 and f"{a} minus {b} at format=json" in out, (out, err)
    code, out, err = run_cli(["contrast", str(run), a + "x", b], monkeypatch, capsys)
    assert code == 2 and "did you mean" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def saved_small_fit(small_fit, tmp_path_factory):
    from simstats.results import save_result

    return save_result(small_fit, tmp_path_factory.mktemp("contrast") / "run")


def _texts():
    from hypothesis import strategies as st
    from test_cli_usage import TEXT

    return st.one_of(TEXT, st.sampled_from(["c0", "c1", "c2", "format", "format=json", "format=plain", "format=",
                                            "=json", "format=json=x", "aligned", "misaligned", "c0,c1"]))


def test_any_text_for_a_contrast_option_is_a_table_or_one_clear_line(saved_small_fit, small_fit, monkeypatch,
                                                                      capsys):
    """`simstats contrast RUN A B` with any text in one of its text arguments or options (the two sides,
    --persona, --behaviour, --feature, --at; hostile values from the `data check` fuzz and values that nearly name
    something): exit 0 with the JSON table, or exit 2 with one line starting "error:"; never a traceback."""
    import json

    from conftest import run_cli
    from hypothesis import HealthCheck, given, settings, strategies as st

    assert small_fit.diagnostics.status != "failed"          # else every example would be refused the same way

    # 25 examples: each loads the saved run from disk, as the command does (seconds each)
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(where=st.sampled_from(["a", "b", "--persona", "--behaviour", "--feature", "--at"]), value=_texts())
    def one(where, value):
        value = value.replace("\x00", "")                    # the OS refuses NUL in argv
        a, b, opts = "c1", "c0", []
        if where == "a":
            a = value
        elif where == "b":
            b = value
        else:
            opts = [f"{where}={value}"]
        code, out, err = run_cli(["contrast", str(saved_small_fit), "--json", *opts, "--", a, b], monkeypatch, capsys)
        assert "Traceback" not in err, (where, value, err)
        assert code in (0, 2), (where, value, code, err)
        if code == 2:
            assert err.startswith("error:") and len(err.strip().splitlines()) == 1, (where, value, err)
        else:
            assert "rows" in json.loads(out), out[:200]

    one()
