"""Issue 5, item 1: the alternative models (K = 1 ... 5 personas, ``degradation``, ``per_condition_fingerprints``) and
the first LOO must-show: on simulated mixture data LOO prefers the mixture over ``degradation`` and picks the true K;
on simulated degradation data it prefers ``degradation``.

Every fit here is real NUTS (nutpie, 2 chains), one per model and log, shared through module-scoped fixtures.
Logs: 4 conditions x 4 questions x 2 formats x 50 answers = 1,600 answers, simulated through ``simulate`` (row-level
CSV read back by ``open_logs``) from parameters drawn from the spec's priors with the shares / locations below set
by hand, so that the truth is known and the alternatives differ in kind, not only in degree. Seeds were fixed before
the first run and not changed afterwards.

Tolerances (set before the first run):
- mixture vs degradation on mixture data: ``-elpd_diff > 4 dse`` (the issue's must-show);
- number of personas: K = 3 is best or within 1 dse of the best (a K = 4 model nests K = 3 with an empty fourth
  persona, so on K = 3 data it can tie but should not win by more than noise), and K = 1, 2 are worse by > 4 dse
  (they lack a persona the data clearly have);
- degradation data: ``degradation`` is best and the K = 3 mixture is worse by more than 2 dse (a preference inside
  2 standard errors would be no preference).
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import warnings

import numpy as np
import pytest
from scipy import special

import simstats
from simstats.errors import SimstatsError, SpecError
from simstats.logs import load_roles, open_logs
from simstats.results.compare import compare
from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict, spec_source
from simstats.validation import Design, simulate

MODELS = DEFAULT_SPEC_PATH.parent
DESIGN = Design(levels=("model",), groups=(4,), baseline=None, questions=4,
                features={"format": ("plain", "json")}, answers=50)
DRAWS, TUNE, CHAINS = 400, 400, 2
# persona shares (aligned, misaligned, code_or_incoherent) per condition at the reference format and mean question
K3_SHARES = np.array([[0.85, 0.10, 0.05], [0.55, 0.35, 0.10], [0.50, 0.10, 0.40], [0.65, 0.20, 0.15]])


def spec(name: str):
    """A shipped spec, sampled at target_accept 0.9: the shipped 0.99 is for the real log's hierarchy of six base
    models; these logs have one level and four conditions, and 0.9 keeps the test within CI's minutes."""
    s = load_spec(MODELS / f"{name}.toml")
    return dataclasses.replace(s, sampler=dataclasses.replace(s.sampler, target_accept=0.9))


def _patterns(sim, tmp):
    paths = sim.write(tmp / "sim.csv")
    return open_logs(paths["log"], load_roles(paths["roles"])).patterns()


def _fit(name: str, patterns, seed: int = 1):
    with warnings.catch_warnings():          # short chains: ESS warnings are expected and not what is tested
        warnings.simplefilter("ignore", RuntimeWarning)
        return simstats.fit(spec(name), patterns, draws=DRAWS, tune=TUNE, chains=CHAINS, seed=seed, progress=False)


@pytest.fixture(scope="module")
def mixture_log(tmp_path_factory):
    """A K = 3 log: fingerprints near the anchors (well separated), shares set by hand."""
    s = spec("persona_mixture_k3")
    truth = copy.deepcopy(simulate(s, design=DESIGN, seed=2024).truth)
    eta = np.log(K3_SHARES) - np.log(K3_SHARES[:, :1])
    truth["parameters"]["eta"] = {c: dict(zip(s.persona_names, map(float, eta[i])))
                                  for i, c in enumerate(truth["conditions"])}
    sim = simulate(s, truth=truth, seed=2024)
    return _patterns(sim, tmp_path_factory.mktemp("mixture"))


@pytest.fixture(scope="module")
def degradation_log(tmp_path_factory):
    """A degradation log: per condition one logit-normal per score, medians falling from 85 to 40 (aligned) and 85
    to 60 (coherent), scale 0.8 on the logit scale (sd ~12 points at the median 85), 3% missing scores, verdicts
    independent of the scores."""
    s = spec("degradation")
    truth = copy.deepcopy(simulate(s, design=DESIGN, seed=2025).truth)
    P = truth["parameters"]
    assert P["verdict"]["levels"] == ["scored", "CODE", "REFUSAL"]
    locs = {"aligned": [0.85, 0.7, 0.55, 0.4], "coherent": [0.85, 0.75, 0.65, 0.6]}
    for i, c in enumerate(truth["conditions"]):
        for m, loc in locs.items():
            P["theta_condition"][c].update({f"{m}:location": float(special.logit(loc[i])),
                                            f"{m}:log_scale": float(np.log(0.8)),
                                            f"{m}:no_score": float(special.logit(0.03))})
        # verdicts (scored, CODE, REFUSAL) with probabilities (0.9, 0.05, 0.05): logits against "scored"
        P["theta_condition"][c].update({"verdict:CODE": float(np.log(0.05 / 0.9)),
                                        "verdict:REFUSAL": float(np.log(0.05 / 0.9))})
    sim = simulate(s, truth=truth, seed=2025)
    return _patterns(sim, tmp_path_factory.mktemp("degradation"))


@pytest.fixture(scope="module")
def mixture_fits(mixture_log):
    names = {"K=1": "persona_mixture_k1", "K=2": "persona_mixture_k2", "K=3": "persona_mixture_k3",
             "K=4": "persona_mixture", "degradation": "degradation"}
    return {label: _fit(name, mixture_log) for label, name in names.items()}


@pytest.fixture(scope="module")
def degradation_fits(degradation_log):
    return {"degradation": _fit("degradation", degradation_log), "K=3": _fit("persona_mixture_k3", degradation_log)}


def _show(table) -> str:
    return table[["elpd", "elpd_diff", "dse", "se", "p", "pareto_k_bad", "status"]].to_string()


# ------------------------------------------------------------------------------------------ LOO must-shows
def test_loo_prefers_the_mixture_over_degradation_on_mixture_data(mixture_fits):
    table = compare({k: mixture_fits[k] for k in ("K=3", "degradation")})
    print("\n" + _show(table))
    assert table.index[0] == "K=3", _show(table)
    row = table.loc["degradation"]
    assert -row["elpd_diff"] > 4 * row["dse"], _show(table)


def test_loo_picks_the_true_number_of_personas(mixture_fits):
    table = compare(mixture_fits)
    print("\n" + _show(table))
    k3 = table.loc["K=3"]
    assert table.index[0] == "K=3" or -k3["elpd_diff"] <= k3["dse"], _show(table)
    for k in ("K=1", "K=2", "degradation"):
        assert -table.loc[k, "elpd_diff"] > 4 * table.loc[k, "dse"], (k, _show(table))


def test_loo_prefers_degradation_on_degradation_data(degradation_fits):
    table = compare(degradation_fits)
    print("\n" + _show(table))
    assert table.index[0] == "degradation", _show(table)
    assert -table.loc["K=3", "elpd_diff"] > 2 * table.loc["K=3", "dse"], _show(table)


# ------------------------------------------------------------------------------- downstream of each model
def test_one_persona_has_shares_of_one(mixture_fits):
    r = mixture_fits["K=1"]
    assert r.personas == ["aligned"]
    assert np.allclose(r.share_draws(), 1.0)
    assert (r.shares()["mean"] == 1.0).all()
    assert not r.diagnostics.label_switching
    rep = r.summary_dict()
    assert set(rep["personas"]) == {"aligned"} and rep["condition_effects"] == {}
    assert np.allclose(r.pattern_responsibilities(), 1.0)


def test_degradation_result_saves_loads_and_reports(mixture_fits, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from simstats.report import html_report, public_report
    from simstats.results import load_result, save_result

    r = mixture_fits["degradation"]
    save_result(r, tmp_path / "deg")
    back = load_result(tmp_path / "deg")
    assert back.kind == "degradation" and back.spec.hash() == r.spec.hash()
    dist = back.condition_distributions()
    assert set(dist.index.get_level_values("statistic")) == {f"{m}_{s}" for m in ("aligned", "coherent")
                                                             for s in ("mean", "sd", "no_score")}
    rep = public_report(back)
    assert rep["kind"] == "degradation" and "shares" not in rep
    with pytest.raises(SimstatsError, match="no personas"):
        back.shares()
    # 2 chains x 400 draws of a misspecified model with 4 conditions (their sd barely identified) can fail the
    # gate; a failed fit's report says so instead of showing results (seeds 1 and 2: failed and warning)
    html = html_report(back)
    if rep["diagnostics"]["status"] == "failed":
        assert "The fit failed its diagnostics" in html and "No personas" not in html
    else:
        assert "No personas" in html
    code, out, err = run_cli(["report", str(tmp_path / "deg")], monkeypatch, capsys)
    assert "Traceback" not in out + err
    if rep["diagnostics"]["status"] != "failed":
        assert code == 0 and "no personas" in out


def test_per_condition_fingerprints_fit_loo_and_report(mixture_log, tmp_path):
    """The model runs end to end (a short fit): fingerprints per condition, LOO, save/load, report."""
    from simstats.report import print_report, public_report
    from simstats.results import load_result, save_result
    from simstats.results.compare import loo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = simstats.fit(spec("per_condition_fingerprints"), mixture_log, draws=100, tune=150, chains=2, seed=3,
                         progress=False)
    print("\nper_condition_fingerprints:", r.diagnostics.summary())
    assert np.asarray(r.posterior["fpc_aligned"]).shape[2:] == (4, 4, 11)
    assert np.isfinite(loo(r).elpd)
    save_result(r, tmp_path / "pcf")
    back = load_result(tmp_path / "pcf")
    assert back.spec.fingerprints.vary == "condition"
    rep = public_report(back)
    if rep["diagnostics"]["status"] != "failed":      # as the CLI: a failed fit's report has no shares to print
        print_report(rep)
        assert "fingerprints vary by condition" in " ".join(rep["notes"])
    assert back.threshold_rates()["mean"].between(0, 1).all()


# ------------------------------------------------------------------------------------------ fast unit tests
def _raw(name: str = "persona_mixture") -> dict:
    return tomllib.loads((MODELS / f"{name}.toml").read_text())


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["model"].update(kind="degradaton"), r"model.kind = 'degradaton'.*did you mean 'degradation'"),
    (lambda d: d.update(fingerprints={"vary": "conditon"}), r"did you mean 'condition'"),
    (lambda d: d.update(fingerprints={"vari": "condition"}), r"unknown key 'vari'.*did you mean 'vary'"),
    (lambda d: d.update(fingerprints={"sigma": 0}), r"fingerprints.sigma must be > 0"),
    (lambda d: d.update(fingerprint={"vary": "condition"}), r"did you mean 'fingerprints'"),
    (lambda d: d["model"].update(kind="degradation"), r"degradation model .* has no personas"),
    (lambda d: d.update(personas=[]), r"at least one persona"),
])
def test_new_spec_keys_are_validated(mutate, match):
    d = _raw()
    mutate(d)
    with pytest.raises(SpecError, match=match):
        spec_from_dict(d, source="x.toml")


def test_degradation_spec_needs_a_bounded_distribution_and_no_fingerprint_variation():
    d = _raw("degradation")
    d["measures"]["aligned"]["likelihood"] = "categorical"
    with pytest.raises(SpecError, match=r"measures.aligned.likelihood = 'categorical'.*binned_logit_normal"):
        spec_from_dict(d)
    d["measures"]["aligned"]["likelihood"] = "binned_beta"          # the Beta version is still a degradation model
    assert spec_from_dict(d).kind == "degradation"
    d = _raw("degradation")
    d["fingerprints"] = {"vary": "condition"}
    with pytest.raises(SpecError, match="needs personas"):
        spec_from_dict(d)


def test_default_spec_hash_is_unchanged_by_the_new_keys():
    """The default spec hashes as it did before `model.kind` and `[fingerprints]` existed (stored results still
    match), and setting the keys at their defaults changes nothing; other values change the hash."""
    base = load_spec(DEFAULT_SPEC_PATH)
    assert base.hash() == "f1a1c26a33760c206e33bad9bb8ebd1710aeae4fc172c3b8998ad789c1313add"   # version 2
    d = _raw()
    d["model"]["kind"] = "mixture"
    d["fingerprints"] = {"vary": "shared", "sigma": 0.5}
    assert spec_from_dict(d).hash() == base.hash()
    d["fingerprints"] = {"vary": "condition"}
    assert spec_from_dict(d).hash() != base.hash()


@pytest.mark.parametrize("name, personas", [
    ("persona_mixture_k1", ["aligned"]), ("persona_mixture_k2", ["aligned", "misaligned"]),
    ("persona_mixture_k3", ["aligned", "misaligned", "code_or_incoherent"]),
    ("persona_mixture", ["aligned", "misaligned", "careless", "code_or_incoherent"]),
    ("persona_mixture_k5", ["aligned", "misaligned", "careless", "code_or_incoherent", "evasive"]),
    ("degradation", []), ("per_condition_fingerprints", ["aligned", "misaligned", "careless", "code_or_incoherent"]),
])
def test_shipped_alternative_specs_load_and_round_trip(name, personas):
    s = load_spec(MODELS / f"{name}.toml")
    assert s.persona_names == personas
    assert spec_from_dict(spec_source(s)).hash() == s.hash()


@pytest.mark.parametrize("name", ["persona_mixture_k1", "persona_mixture_k5", "degradation",
                                  "per_condition_fingerprints"])
def test_simulate_draws_logs_from_every_alternative(name, tmp_path):
    """Row-level logs from each spec read back with every row used; the same seed gives the same log."""
    small = Design(levels=("model",), groups=(2,), baseline=None, questions=2, answers=5)
    sim = simulate(MODELS / f"{name}.toml", design=small, seed=7)
    pats = _patterns(sim, tmp_path)
    assert pats.n_answers == small.n_rows == len(sim.rows)
    again = simulate(MODELS / f"{name}.toml", truth=sim.truth, seed=7)
    assert again.rows.equals(sim.rows)
    if name == "persona_mixture_k1":
        assert all(v == {"aligned": 1.0} for v in sim.truth["shares"].values())
