"""Advice a user can act on (issue 16 item 4): a funnel at a hierarchy sd with few groups, two terms that trade
off, a persona the data do not see; nothing for a fit that is ok. Stand-in posteriors with the geometry built in,
so each case is exact (no sampler, no seed luck): the claims are about what the advice reads from a posterior."""

from __future__ import annotations

from types import SimpleNamespace

import arviz as az
import numpy as np
import pytest

from simstats.inference.advice import advise, divergent_low, level_groups, trade_offs
from simstats.inference.diagnostics import Diagnostics

RNG = np.random.default_rng(0)
CH, DR = 2, 500


def _idata(post: dict, diverging=None):
    groups = {"posterior": post}
    if diverging is not None:
        groups["sample_stats"] = {"diverging": diverging}
    return az.from_dict(groups)


def _diag(worst: dict, status: str = "warning", rhat: float = 1.04, ess: float = 60.0) -> Diagnostics:
    return Diagnostics(rhat, ess, ess, 3, False, status, ["R-hat"], worst)


def _data(conditions: int = 2, condition_x=None, personas=("a", "b", "c")):
    return SimpleNamespace(conditions=[f"c{i}" for i in range(conditions)], condition_x=condition_x, levels=[],
                           level_groups=[], personas=list(personas))


def test_a_funnel_at_the_condition_sd_is_named_with_its_groups_and_what_to_change():
    log_sd = RNG.normal(size=(CH, DR))
    sd = np.exp(log_sd)
    z = RNG.normal(size=(CH, DR, 2))
    diverging = log_sd < np.quantile(log_sd, 0.05)            # divergences at the funnel's neck
    idata = _idata({"sigma_condition": sd, "z_condition": z}, diverging)
    assert divergent_low(idata["posterior"], idata["sample_stats"], "sigma_condition") < 0.05
    tips = advise(idata, _diag({"rhat": "sigma_condition"}), _data(2))
    assert len(tips) == 1, tips
    assert "a funnel at sigma_condition" in tips[0] and "1 group to inform it" in tips[0]
    assert "rests on its prior" in tips[0] and "[conditions] effects" in tips[0]
    many = _data(35)
    many.cell_count = np.full(35, 50)
    tips = advise(idata, _diag({"rhat": "sigma_condition"}), many)
    assert "34 groups" in tips[0] and "50 answers per condition" in tips[0] and "noncentred" in tips[0], tips


def test_the_condition_level_counts_residual_degrees_of_freedom():
    x = np.eye(9)[:, :7]                                        # 9 conditions, 7 effects: 1 left
    assert level_groups("sigma_condition", _data(9, x)) == 1
    assert level_groups("sigma_condition", _data(5)) == 4
    assert level_groups("sigma_base_model", SimpleNamespace(levels=["base_model"], level_groups=[["a", "b"]])) == 2


def test_terms_that_trade_off_are_named_with_their_correlation():
    a = RNG.normal(size=(CH, DR, 2))
    b = -a[..., :1] + 0.05 * RNG.normal(size=(CH, DR, 1))
    post = {"beta_condition": a, "eta_condition": b, "u": RNG.normal(size=(CH, DR, 3))}
    pairs = trade_offs(post, ["beta_condition"], list(post))
    assert len(pairs) == 1 and pairs[0][0] == "beta_condition[0]" and pairs[0][1] == "eta_condition"
    assert pairs[0][2] == pytest.approx(-1.0, abs=0.01)
    tips = advise(_idata(post), _diag({"ess_bulk": "beta_condition"}, rhat=1.005), _data(3))
    assert any("trade off" in t and "their sum" in t for t in tips), tips


def test_independent_parameters_do_not_trade_off():
    post = {"x": RNG.normal(size=(CH, DR, 4)), "y": RNG.normal(size=(CH, DR, 4))}
    assert trade_offs(post, ["x"], ["x", "y"]) == []


def test_a_persona_the_data_do_not_see_is_named():
    shares = np.array([[0.7, 0.3, 0.001], [0.5, 0.498, 0.002]])
    idata = _idata({"u": RNG.normal(size=(CH, DR, 2))})
    tips = advise(idata, _diag({"rhat": "u"}), _data(2), shares)
    assert any("the c persona takes under 0.5%" in t for t in tips), tips
    assert not any("the b persona" in t for t in tips)


def test_an_ok_fit_gets_no_advice():
    idata = _idata({"sigma_condition": np.exp(RNG.normal(size=(CH, DR)))}, np.zeros((CH, DR), bool))
    assert advise(idata, _diag({"rhat": "sigma_condition"}, status="ok", rhat=1.001, ess=900), _data(2)) == []


def test_divergences_in_one_tail_of_a_log_odds_are_named_when_no_funnel_explains_them():
    x = RNG.normal(size=(CH, DR, 3))
    diverging = x[..., 2] < np.quantile(x[..., 2], 0.04)       # at the low end of the third element only
    idata = _idata({"beta_condition": x}, diverging)
    tips = advise(idata, _diag({"rhat": "beta_condition"}, rhat=1.005, ess=800), _data(3))
    assert len(tips) == 1 and "the low end of beta_condition[2]" in tips[0], tips


def test_only_a_funnel_at_a_level_of_many_groups_is_the_centred_forms():
    """The ladder's funnel rung (non-centred form) answers a funnel at a level of many groups; with few groups the
    prior, not the form, is at fault. A fit already in the adaptive form is not told to use it."""
    from simstats.inference.advice import funnels, many_group_funnels

    log_sd = RNG.normal(size=(CH, DR))
    diverging = log_sd < np.quantile(log_sd, 0.05)
    idata = _idata({"sigma_condition": np.exp(log_sd), "z_condition": RNG.normal(size=(CH, DR, 2))}, diverging)
    diag = _diag({"rhat": "sigma_condition"})
    many = _data(35)
    many.cell_count = np.full(35, 50)
    assert [f[:2] for f in funnels(idata, diag, _data(2))] == [("sigma_condition", 1)]
    assert many_group_funnels(idata, diag, _data(2)) == []
    assert many_group_funnels(idata, diag, many) == ["sigma_condition"]
    assert many_group_funnels(idata, _diag({}, status="ok"), many) == []
    # the question effects' sd: a funnel too, but not one the condition hierarchy's parametrisation reaches
    q = _idata({"sigma_question": np.exp(log_sd), "u_raw": RNG.normal(size=(CH, DR, 3))}, diverging)
    assert many_group_funnels(q, _diag({"rhat": "sigma_question"}), many) == []
    tip = advise(q, _diag({"rhat": "sigma_question"}), many)[0]
    assert "question_sigma" in tip and "noncentred" not in tip, tip
    tip = advise(idata, diag, many, parametrization="adaptive")[0]
    assert "the adaptive form funnels too" in tip and "set [hierarchy]" not in tip, tip


def test_the_bins_of_one_fingerprint_are_not_said_to_trade_off():
    """Two bins of one persona's score distribution sum, with the others, to 1: their negative correlation is the
    simplex's, not a design to change (seen on a 200-condition sweep, where the advice told the user to drop a bin).
    Bins of different personas, and other variables, are still compared."""
    a = RNG.uniform(0.2, 0.8, size=(CH, DR))
    fp = np.stack([np.stack([a, 1 - a], -1), np.stack([1 - a, a], -1)], axis=2)     # (chain, draw, persona, bin)
    post = {"fp_score": fp}
    pairs = trade_offs(post, ["fp_score"], ["fp_score"])
    assert ("fp_score[0]", "fp_score[1]") not in {p[:2] for p in pairs}
    assert {frozenset(p[:2]) for p in pairs} == {frozenset(("fp_score[0]", "fp_score[2]")),
                                                frozenset(("fp_score[0]", "fp_score[3]")),
                                                frozenset(("fp_score[1]", "fp_score[2]")),
                                                frozenset(("fp_score[1]", "fp_score[3]"))}, pairs
