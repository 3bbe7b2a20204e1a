"""Row-level simulation (`simstats.validation.simulate`, `simstats simulate`): the written log reads back
through the logs layer with every row used, its counts follow the design, the answers follow the true parameters,
and runs are reproducible. No sampler runs here: every test takes well under a few seconds."""

from __future__ import annotations

import json
import re
import tomllib

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from simstats.errors import SimstatsError
from simstats.logs import Grid, load_roles, open_logs
from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict
from simstats.validation import Design, read_truth, simulate, simulate_log

SPEC = load_spec(DEFAULT_SPEC_PATH)
SMALL = Design(groups=(2, 1, 2), questions=4, answers=20)          # 2 x (1 + 2) = 6 conditions x 8 question ids

# Tolerance of an empirical share: |p_hat - p| <= Z * sd + 0.5 / n. A condition's count of persona k is a sum of
# independent binomials over its cells (one per question id), so its variance is exactly sum_cells n w (1 - w),
# which the tests compute from the truth. Z = 4.5 gives a two-sided normal tail of 6.8e-6 per comparison, so even
# the 40 comparisons of a 10 x 4 table fail together with probability < 3e-4 when the code is right (and the seed
# is fixed, so a pass is reproducible); 0.5 / n is the continuity correction that covers shares near 0 or 1,
# where the normal approximation is poorest.
Z = 4.5


@pytest.fixture(scope="module")
def default_sim():
    return simulate(SPEC, seed=7)


def _spec_dict() -> dict:
    return tomllib.loads(DEFAULT_SPEC_PATH.read_text())


def _cell_weights(sim) -> tuple[pd.DataFrame, np.ndarray]:
    """P(persona | cell) recomputed from the truth file's parameters (independently of the simulation code)."""
    truth, names = sim.truth, sim.truth["personas"]
    P = truth["parameters"]
    rows = sim.rows
    keys = [*sim.design.levels, "question_id", *sim.design.features]
    cells = rows.groupby(keys, sort=False).size().rename("n").reset_index()
    cells["condition"] = cells[list(sim.design.levels)].agg("/".join, axis=1)
    cells["prompt"] = cells["question_id"].str.split("_").str[0]
    logit = np.array([[P["eta"][c][p] for p in names] for c in cells["condition"]])
    logit += np.array([[P["u"][q][p] for p in names] for q in cells["prompt"]])
    for coef, g in P["gamma"].items():
        feature, level = re.fullmatch(r"(\w+)\[(.+)\]", coef).groups()
        logit += np.outer(cells[feature] == level, [g[p] for p in names])
    w = np.exp(logit - logit.max(1, keepdims=True))
    return cells, w / w.sum(1, keepdims=True)


# ------------------------------------------------------------------------------------------- reading back
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_written_log_reads_back_with_every_row_used(default_sim, tmp_path, suffix):
    sim, d = default_sim, default_sim.design
    paths = sim.write(tmp_path / f"sim{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    roles = load_roles(paths["roles"])
    assert roles == sim.roles
    logs = open_logs(paths["log"], roles)
    acc = logs.accounting()
    assert (acc.rows_read, acc.rows_used, acc.excluded) == (d.n_rows, d.n_rows, {}) == (12000, 12000, {})

    pats = logs.patterns()
    t = pats.table
    assert pats.condition_levels == ["base_model", "finetune"] and pats.features == ["format"]
    per_cond = t.groupby("condition")["count"].sum()
    assert sorted(per_cond.index) == sim.truth["conditions"]
    assert (per_cond == d.n_prompts * d.answers).all()
    assert sorted(t["prompt"].unique()) == sim.truth["prompts"]
    assert t.groupby("format")["count"].sum().to_dict() == {"json": d.n_rows // 2, "plain": d.n_rows // 2}

    # every score lands in the bin it was drawn in: the pattern counts equal the rows binned here
    coarse = pats.coarsen(10).table
    got = coarse.groupby(["condition", "aligned", "coherent"])["count"].sum()
    r = sim.rows.assign(condition=sim.rows[list(d.levels)].agg("/".join, axis=1))
    for m in ("aligned", "coherent"):
        r[m] = Grid(0, 100, 10).bin(r[m].to_numpy())
    want = r.groupby(["condition", "aligned", "coherent"]).size()
    assert got.to_dict() == want.to_dict()


def test_scores_are_real_numbers_inside_0_100(default_sim):
    a = default_sim.rows["aligned"].dropna().to_numpy()
    c = default_sim.rows["coherent"].to_numpy()
    assert ((a >= 0) & (a <= 100)).all() and ((c >= 0) & (c <= 100)).all()
    assert (a != np.round(a)).mean() > 0.99                       # not integers
    assert default_sim.rows["coherent"].notna().all()             # coherent anchors never miss
    assert default_sim.rows["answer_id"].is_unique


def test_data_check_cli_reads_the_written_log(default_sim, tmp_path, monkeypatch, capsys):
    paths = default_sim.write(tmp_path / "sim.csv")
    for flags in (["--roles", str(paths["roles"])],
                  ["--condition", "base_model", "--condition", "finetune", "--condition", "run", "--id", "answer_id"]):
        code, out, err = run_cli(["data", "check", str(paths["log"]), *flags, "--json"], monkeypatch, capsys)
        assert code == 0, err
        summary = json.loads(out)
        assert (summary["rows_used"], summary["excluded"]) == (12000, {})
        assert summary["n_conditions"] == 10 and summary["n_prompts"] == 12


def test_counts_follow_a_custom_design(tmp_path):
    design = Design(levels=("model",), groups=(3,), baseline=None, questions=5,
                    features={"format": ("plain", "json"), "system": ("none", "evil", "kind")}, answers=7)
    sim = simulate(SPEC, design=design, seed=1)
    assert design.n_conditions == 3 and design.n_prompts == 30 and len(sim.rows) == design.n_rows == 630
    assert (sim.rows.groupby(["model", "question_id"]).size() == 7).all()
    assert sim.rows.groupby("model").size().to_dict() == {"model_0": 210, "model_1": 210, "model_2": 210}
    assert sim.truth["notes"] == ["condition effect 'base_model' left out: the data have no column 'base_model'",
                                  "condition effect 'finetune' left out: the data have no column 'finetune'"]
    # coefficients as the fit names them: the spec's reference (format = plain), else the most common level with
    # ties broken alphabetically (system = evil)
    assert sorted(sim.truth["parameters"]["gamma"]) == ["format[json]", "system[kind]", "system[none]"]
    paths = sim.write(tmp_path / "custom.parquet")
    logs = open_logs(paths["log"], load_roles(paths["roles"]))
    assert logs.accounting().excluded == {} and logs.accounting().rows_used == 630
    t = logs.patterns().table
    assert t.groupby("system")["count"].sum().to_dict() == {"evil": 210, "kind": 210, "none": 210}
    assert t.groupby("condition")["count"].sum().to_dict() == {"model_0": 210, "model_1": 210, "model_2": 210}


def test_verdicts_are_consistent_with_missing_scores(tmp_path):
    sim = simulate(SPEC, design=Design(groups=(2, 1, 1), questions=4, answers=40, verdicts=True), seed=3)
    r = sim.rows
    assert set(r["verdict"]) <= {"scored", "CODE", "REFUSAL"}
    assert ((r["verdict"] != "scored") == r["aligned"].isna()).all()
    assert sim.truth["parameters"]["verdict"]["measure"] == "aligned"
    paths = sim.write(tmp_path / "v.csv")
    logs = open_logs(paths["log"], load_roles(paths["roles"]))
    pats = logs.patterns()
    assert logs.accounting().excluded == {} and pats.verdict_levels == ["scored", "CODE", "REFUSAL"]
    assert pats.table.groupby("verdict")["count"].sum().to_dict() == r["verdict"].value_counts().to_dict()


@pytest.mark.parametrize("change", ["crossed_decomposed", "no_question_effect", "all_scores_can_miss",
                                    "declared_verdicts"])
def test_spec_variants_read_back_with_every_row_used(tmp_path, change):
    d = _spec_dict()
    if change == "crossed_decomposed":      # levels from the data (the default's version 1), crossed
        d["hierarchy"].update(levels="data", structure="crossed", variance="decomposed")
        d["conditions"]["effects"].pop("base_model")
    elif change == "no_question_effect":
        d["prompt"]["question_effect"] = "none"
    elif change == "all_scores_can_miss":      # an answer can have no score at all: it needs a verdict to be used
        d["personas"][3]["anchors"]["coherent"]["no_score"] = 0.5
    else:
        d["personas"][3]["verdicts"] = {"CODE": 0.6, "REFUSAL": 0.1}
    spec = spec_from_dict(d)
    sim = simulate(spec, design=SMALL, seed=2)
    P = sim.truth["parameters"]
    if change == "crossed_decomposed":
        # crossed: the finetune level's two groups are what the categorical finetune effect already separates, so
        # the level is left out (builders._identified_levels); the base-model level stays
        assert "finetune" not in P["groups"] and set(P["groups"]) == {"base_model"} and "variance_share" in P
    if change == "no_question_effect":
        assert P["sigma_question"] is None and all(v == 0 for q in P["u"].values() for v in q.values())
    if change in ("all_scores_can_miss", "declared_verdicts"):
        assert "verdict" in sim.rows and P["verdict"]["levels"] == ["scored", "CODE", "REFUSAL"]
    if change == "declared_verdicts":
        assert P["verdict"]["given_no_score"]["code_or_incoherent"] == pytest.approx({"CODE": 6 / 7, "REFUSAL": 1 / 7})
    paths = sim.write(tmp_path / "s.csv")
    acc = open_logs(paths["log"], load_roles(paths["roles"])).accounting()
    assert (acc.rows_used, acc.excluded) == (SMALL.n_rows, {})
    if change == "all_scores_can_miss":
        with pytest.raises(SimstatsError, match="no score at all"):
            simulate(spec, design=Design(groups=(1, 1, 1), questions=2, answers=2, verdicts=False), seed=0)


# ------------------------------------------------------------------------------------- answers follow the truth
def test_empirical_persona_shares_match_the_truth(default_sim):
    sim = default_sim
    names = sim.truth["personas"]
    cells, w = _cell_weights(sim)
    # the truth's shares are the count-weighted cell weights (each condition over its own prompt mix)
    n_c = cells.groupby("condition")["n"].sum()
    share = pd.DataFrame(w * cells["n"].to_numpy()[:, None], columns=names).groupby(cells["condition"]).sum()
    share = share.div(n_c, axis=0)
    np.testing.assert_allclose(share.loc[sim.shares().index].to_numpy(), sim.shares().to_numpy(), atol=1e-12)

    var = pd.DataFrame(w * (1 - w) * cells["n"].to_numpy()[:, None], columns=names).groupby(cells["condition"]).sum()
    sd = np.sqrt(var.div(n_c ** 2, axis=0))
    per = sim.personas
    assert (per["answer_id"] == sim.rows["answer_id"]).all()
    emp = pd.crosstab(per["condition"], per["persona"], normalize="index").reindex(columns=names, fill_value=0.0)
    emp, truth, sd = emp.loc[share.index], share, sd.loc[share.index]
    tol = Z * sd + 0.5 / n_c.to_numpy()[:, None]
    assert ((emp - truth).abs() <= tol).all().all(), (emp - truth).abs() / sd


def test_scores_follow_each_personas_fingerprint(default_sim):
    """Per persona, the share of each aligned category (no score, then 10 bins) matches its fingerprint."""
    sim = default_sim
    fp = sim.truth["parameters"]["fingerprints"]["aligned"]
    cat = np.where(sim.rows["aligned"].isna(), 0, Grid(0, 100, 10).bin(sim.rows["aligned"].to_numpy()) + 1)
    for persona, probs in fp.items():
        sel = (sim.personas["persona"] == persona).to_numpy()
        n = sel.sum()
        if n < 100:
            continue
        p = np.asarray(probs)
        emp = np.bincount(cat[sel], minlength=len(p)) / n
        assert (np.abs(emp - p) <= Z * np.sqrt(p * (1 - p) / n) + 0.5 / n).all(), (persona, emp, p)


# ------------------------------------------------------------------------------------------ reproducibility
def test_same_seed_gives_identical_files(tmp_path):
    for suffix in (".csv", ".parquet"):        # one folder per format: both write sim.truth.json and sim.roles.toml
        a = simulate(SPEC, design=SMALL, seed=11).write(tmp_path / "a" / suffix[1:] / f"sim{suffix}")
        b = simulate(SPEC, design=SMALL, seed=11).write(tmp_path / "b" / suffix[1:] / f"sim{suffix}")
        for key in a:
            assert a[key].read_bytes() == b[key].read_bytes(), key
    c = simulate(SPEC, design=SMALL, seed=12).write(tmp_path / "c" / "sim.csv")
    assert c["log"].read_bytes() != (tmp_path / "a" / "csv" / "sim.csv").read_bytes()


def test_truth_round_trip_gives_the_same_parameters(tmp_path):
    sim = simulate(SPEC, design=SMALL, seed=5)
    paths = sim.write(tmp_path / "sim.csv")
    truth = read_truth(paths["truth"])
    assert truth == sim.truth
    again = simulate(SPEC, truth=paths["truth"], seed=5)           # the design comes from the truth
    assert again.truth == sim.truth and again.rows.equals(sim.rows)
    more = simulate(SPEC, truth=truth, design=Design(**{**truth["design"], "answers": 60}), seed=6)
    assert more.truth["parameters"] == sim.truth["parameters"] and more.truth["shares"] == sim.truth["shares"]
    assert len(more.rows) == 3 * len(sim.rows)
    with pytest.raises(SimstatsError, match="the truth's questions"):
        simulate(SPEC, truth=truth, design=Design(**{**truth["design"], "questions": 3}), seed=5)


def test_cli_simulate_and_truth_round_trip(tmp_path, monkeypatch, capsys):
    args = ["simulate", str(DEFAULT_SPEC_PATH), "--groups", "2,1,2", "--questions", "4", "--answers", "20",
            "--seed", "5"]
    code, out, err = run_cli([*args, "--out", str(tmp_path / "a.csv")], monkeypatch, capsys)
    assert code == 0, err
    assert "seed 5" in out and "simstats data check" in out
    first = read_truth(tmp_path / "a.truth.json")
    assert first == simulate(SPEC, design=SMALL, seed=5).truth
    code, out, err = run_cli(["simulate", str(DEFAULT_SPEC_PATH), "--truth", str(tmp_path / "a.truth.json"),
                              "--seed", "5", "--out", str(tmp_path / "b.csv")], monkeypatch, capsys)
    assert code == 0, err
    assert read_truth(tmp_path / "b.truth.json")["parameters"] == first["parameters"]
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.personas.csv").read_bytes() == (tmp_path / "b.personas.csv").read_bytes()


# --------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, message", [
    (["--out", "{d}/x.txt"], "CSV or Parquet"),
    (["--out", "{d}/x.csv", "--groups", "2,x"], "--groups"),
    (["--out", "{d}/x.csv", "--answers", "0"], "answers must be"),
    (["--out", "{d}/x.csv", "--answers", "abc"], "--answers"),
    (["--out", "{d}/x.csv", "--seed", "-1"], "seed"),
    (["--out", "{d}/x.csv", "--levels", "a,b"], "--groups"),
    (["--out", "{d}/x.csv", "--features", "format"], "--features"),
    (["--out", "{d}/x.csv", "--truth", "{d}/missing.json"], "not found"),
    (["--out", "{d}/file.txt/x.csv"], "cannot"),
    ([], "--out"),
])
def test_cli_user_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    (tmp_path / "file.txt").write_text("not a folder")
    args = [a.format(d=tmp_path) for a in args]
    code, out, err = run_cli(["simulate", str(DEFAULT_SPEC_PATH), *args], monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]          # nothing written


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    sim = simulate(SPEC, design=SMALL, seed=0)

    def fail(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(sim), "roles_toml", fail)
    with pytest.raises(SimstatsError, match="No space left"):
        sim.write(tmp_path / "sim.parquet")
    assert list(tmp_path.iterdir()) == []


def test_simulate_log_still_works():
    pats, truth = simulate_log(SPEC, n_conditions=2, n_prompts=2, answers_per_cell=5, seed=0)
    assert pats.n_answers == 2 * 2 * 2 * 5 and truth.condition_shares().shape == (2, 4)
