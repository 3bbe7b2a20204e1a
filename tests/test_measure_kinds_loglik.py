"""The pattern likelihood equals the row-level likelihood for every kind of measurement (issue 15).

For each kind a measure can be (``bounded`` with each bounded family, ``binary``, ``categorical`` with four
levels, ``continuous`` on an open-ended grid) and for a spec that combines kinds, a small log is written (three
conditions, two questions, a ``format`` prompt feature, answers without a score next to a verdict or another
measure, values on the grid's edges and beyond an open grid) and read through :func:`simstats.open_logs`. The
persona mixture is then built on its pattern counts (the fused kernel) and per answer (``rows=True``) and:

- both models have the same free variables, and their log density and its gradient agree to 1e-10 at random
  points of the unconstrained space;
- the kernel's log-likelihood equals a NumPy sum over the log's own rows (:meth:`LogSet.rows`, binned here), so the
  counts are the answers and not only the patterns repeated;
- it is not vacuous: there are fewer patterns than answers, moving one answer to another emission changes the
  row sum, and a log with one answer's value changed gives the row model another log density.

Each case compiles once, both models in one function (``FAST_COMPILE``: the kernel runs its numba implementation
either way), and only the point varies.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from simstats.families.fingerprints import category_index
from simstats.kinds import build_model
from simstats.logs import open_logs
from simstats.logs.grid import MISSING_BIN
from simstats.logs.roles import EM_PROMPT_REGEX, Measure, Roles
from simstats.spec import spec_from_dict

MODE = "FAST_COMPILE"
N_POINTS = 4
CONDITIONS = ["base", "coder", "evil"]
QUESTIONS = ["wish", "wish_json", "bored", "bored_json"]

#: each measure of the logs: its roles entry, its spec entry, the anchors of the two personas and a value writer
#: ``draw(rng, persona) -> values`` (the persona of each answer drawn per cell, so patterns repeat)
MEASURES = {
    "score": (Measure("score", n_bins=20), {"likelihood": "binned_beta", "bins": 5},
              [{"mean": 85, "no_score": 0.05}, {"mean": 20, "no_score": 0.2}]),
    "judged": (Measure("judged", n_bins=20), {"likelihood": "categorical", "bins": 5},   # the EM specs' family
               [{"mean": 85, "no_score": 0.05}, {"mean": 20, "no_score": 0.2}]),
    "rating": (Measure("rating", lower=1, upper=10, n_bins=18), {"likelihood": "binned_logit_normal", "bins": 6},
               [{"mean": 8, "no_score": 0.05}, {"mean": 3, "no_score": 0.2}]),
    "match": (Measure("match", kind="binary"), {"likelihood": "categorical", "bins": "data"},
              [{"mean": 0.9}, {"mean": 0.2, "no_score": 0.1}]),
    "grade": (Measure("grade", kind="categorical", levels=("A", "B", "C", "D")),
              {"likelihood": "categorical", "bins": "data"},
              [{"levels": {"A": 0.6, "B": 0.3}}, {"levels": {"D": 0.7}, "no_score": 0.1}]),
    "proj": (Measure("proj", kind="continuous", lower=-5, upper=5, n_bins=10),
             {"likelihood": "binned_normal", "bins": 5}, [{"mean": 2.0}, {"mean": -2.0, "no_score": 0.1}]),
}
BINARY_SPELLINGS = (("no", "0", "False", "I", "fail"), ("yes", "1", "true", "C", "PASS"))


def _values(name: str, rng: np.random.Generator, z: np.ndarray) -> np.ndarray:
    """Values of measure ``name`` for answers of personas ``z`` (0/1), written as a log would have them."""
    n = len(z)
    if name in ("score", "judged"):           # integers 0-100, the ends included
        v = np.round(100 * np.where(z == 0, rng.beta(8, 2, n), rng.beta(1.5, 6, n)))
        v[rng.random(n) < 0.05] = 100.0
        v[rng.random(n) < 0.05] = 0.0
        return v
    if name == "rating":                      # a 1-10 scale with halves, both ends included
        v = 1 + 9 * np.where(z == 0, rng.beta(6, 2, n), rng.beta(2, 5, n))
        v = np.round(2 * v) / 2
        v[rng.random(n) < 0.05] = 10.0
        v[rng.random(n) < 0.05] = 1.0
        return v
    if name == "match":                       # the many spellings of a binary outcome
        yes = rng.random(n) < np.where(z == 0, 0.85, 0.25)
        return np.array([rng.choice(BINARY_SPELLINGS[int(y)]) for y in yes], dtype=object)
    if name == "grade":                       # four declared levels, matched ignoring case
        p = np.where(z[:, None] == 0, [0.55, 0.3, 0.1, 0.05], [0.05, 0.15, 0.2, 0.6])
        g = np.array([rng.choice(4, p=row) for row in p])
        out = np.array(["A", "B", "C", "D"], dtype=object)[g]
        lower = rng.random(n) < 0.2
        out[lower] = [s.lower() for s in out[lower]]
        return out
    if name == "proj":                        # unbounded: some values far beyond the grid's range
        v = np.round(np.where(z == 0, rng.normal(2, 1.5, n), rng.normal(-2, 2, n)), 2)
        v[rng.random(n) < 0.03] = 1e6
        v[rng.random(n) < 0.03] = -1e6
        return v
    raise KeyError(name)


def make_log(measures: list[str], n: int, seed: int, verdict: bool) -> pd.DataFrame:
    """A log of ``n`` answers: three conditions, two questions each with and without a ``_json`` suffix, the
    measures' values (about 10% missing), and with ``verdict`` a REFUSAL verdict on some answers without a score
    (answers with neither are excluded, on both routes)."""
    rng = np.random.default_rng(seed)
    cond = rng.choice(CONDITIONS, n)
    qid = rng.choice(QUESTIONS, n)
    share = pd.Series(cond).map({"base": 0.1, "coder": 0.4, "evil": 0.7}).to_numpy()
    share = share + np.where(pd.Series(qid).str.endswith("_json"), 0.15, 0.0)
    z = (rng.random(n) < share).astype(int)
    df = pd.DataFrame({"model": cond, "question_id": qid})
    for m in measures:
        v = pd.Series(_values(m, rng, z))
        v[rng.random(n) < 0.1] = None
        df[m] = v
    if verdict:
        refused = rng.random(n) < 0.1
        df["judge"] = np.where(refused, "REFUSAL", None)
        for m in measures:
            df.loc[refused, m] = None
    return df


def roles_for(measures: list[str], verdict: bool) -> Roles:
    return Roles(condition=["model"], prompt="question_id", prompt_regex=EM_PROMPT_REGEX,
                 feature_defaults={"format": "plain"}, measures=[MEASURES[m][0] for m in measures],
                 verdict="judge" if verdict else None)


def spec_for(measures: list[str], verdict: bool):
    personas = []
    for i, name in enumerate(["assistant", "villain"]):
        p = {"name": name, "anchors": {m: MEASURES[m][2][i] for m in measures}}
        if i:
            p["logodds"] = {"mean": -1.0, "sd": 1.5}
        if verdict:
            p["verdicts"] = {"REFUSAL": [0.05, 0.2][i]}
        personas.append(p)
    return spec_from_dict({
        "model": {"name": "kinds_" + "_".join(measures)},
        "measures": {m: dict(MEASURES[m][1]) for m in measures},
        "personas": personas,
        "hierarchy": {"levels": []},
        "prompt": {"features": ["format"], "reference": {"format": "plain"}, "question_effect": "zerosum"},
    })


#: case -> (measures, verdict column, answers): every kind alone (with a verdict, so that answers without a score
#: are kept), then three kinds combined (where an answer without one score still has the others), the bounded
#: score there with the categorical family of the EM specs
CASES = {
    "bounded-binned_beta": (["score"], True, 300),
    "bounded-binned_logit_normal": (["rating"], True, 300),
    "binary": (["match"], True, 300),
    "categorical": (["grade"], True, 300),
    "continuous-binned_normal": (["proj"], True, 300),
    "combined": (["match", "grade", "judged"], False, 500),
}


def _compile(pat_model, row_model):
    """One function of a point of both models: the pattern model's logp, dlogp, kernel log-likelihood and the
    kernel's inputs (log P(persona | cell), (cells, K), and log P(emission | persona), (units, K)), then the row
    model's logp and dlogp. One function, not two, so that the parts the models share (priors, persona weights,
    fingerprints) compile once; the row model's value variables are replaced by the pattern model's of the same
    name."""
    from pytensor.graph.replace import graph_replace

    kernel = pat_model["loglik"].owner
    assert type(kernel.op).__name__ == "PatternMixtureLogLik"
    logw, logf = kernel.inputs[:2]
    same = {v.name: v for v in pat_model.value_vars}
    rows = graph_replace([row_model.logp(), row_model.dlogp()], {v: same[v.name] for v in row_model.value_vars},
                         strict=True)
    outs = [pat_model.logp(), pat_model.dlogp(), pat_model["loglik"], logw, logf, *rows]
    fn = pat_model.compile_fn(outs, mode=MODE)
    return lambda point: dict(zip(["logp", "dlogp", "loglik", "logw", "logf", "row_logp", "row_dlogp"], fn(point)))


def _row_keys(rows: pd.DataFrame, logs, data, measures: list[str]) -> list[tuple]:
    """Each answer of the log as (condition, prompt, format, category of each measure on the spec's grid, verdict),
    binned here from the row-level values."""
    grids, pgrid = data.patterns.grids, logs.patterns().grids
    cols = [rows["condition"].astype(str), rows["prompt"].astype(str), rows["format"].astype(str)]
    for m in measures:
        g = pgrid[m]
        v = rows[m]
        if g.is_levels:
            idx = {lab.lower(): i for i, lab in enumerate(g.labels)}
            b = np.array([MISSING_BIN if pd.isna(x) else idx[str(x).lower()] for x in v])
        else:
            b = g.bin(v.to_numpy(float))
            if grids[m].n_bins != g.n_bins:
                b = g.coarsen_index(b, grids[m].n_bins)
        cols.append(pd.Series(category_index(b)))
    if data.verdict_levels is not None:
        cols.append(rows["verdict"].fillna("scored").astype(str))
    return list(zip(*(list(c) for c in cols)))


def _pattern_keys(data, measures: list[str]) -> list[tuple]:
    t = data.patterns.table
    keys = [t["condition"].astype(str), t["prompt"].astype(str), t["format"].astype(str)]
    keys += [pd.Series(data.pattern_cat[m]) for m in measures]
    if data.verdict_levels is not None:
        keys.append(pd.Series(np.asarray(data.verdict_levels)[data.pattern_verdict]))
    return list(zip(*(list(c) for c in keys)))


def _build(name: str, folder) -> dict:
    measures, verdict, n = CASES[name]
    df = make_log(measures, n, seed=sorted(CASES).index(name), verdict=verdict)
    path = folder / "log.parquet"
    df.to_parquet(path)
    logs = open_logs(path, roles_for(measures, verdict))
    spec = spec_for(measures, verdict)
    with warnings.catch_warnings():           # "one measure for 2 personas": identified by the cells, fine here
        warnings.simplefilter("ignore", UserWarning)
        pat_model, data = build_model(spec, logs.patterns())
        row_model, _ = build_model(spec, logs.patterns(), rows=True, data=data)
    # the same free variables (the merged function below relies on it; test_same_free_variables says so)
    assert [v.name for v in pat_model.value_vars] == [v.name for v in row_model.value_vars]
    return {"name": name, "measures": measures, "df": df, "path": path, "logs": logs, "spec": spec,
            "data": data, "pat_model": pat_model, "row_model": row_model, "fn": _compile(pat_model, row_model)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each case built and compiled once for the module."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = _build(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.fixture(params=list(CASES))
def case(request, built):
    return built(request.param)


def _points(model, seed: int, n: int = N_POINTS) -> list[dict[str, np.ndarray]]:
    """Random points of the unconstrained space around the initial point, with growing spread."""
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{k: v + s * rng.normal(size=np.shape(v)) for k, v in ip.items()} for s in np.linspace(0.5, 2.0, n)]


def test_same_free_variables(case):
    pm_, rm = case["pat_model"], case["row_model"]
    assert [v.name for v in pm_.value_vars] == [v.name for v in rm.value_vars]
    assert {k: np.shape(v) for k, v in pm_.initial_point().items()} == \
        {k: np.shape(v) for k, v in rm.initial_point().items()}
    names = {v.name for v in pm_.value_vars}
    assert any(n.startswith("fp_") for n in names) and "gamma_free" in names and "u_raw_zerosum__" in names


def test_logp_and_gradient_agree(case):
    for point in _points(case["pat_model"], seed=len(case["name"])):
        out = case["fn"](point)
        lp_p, g_p, lp_r, g_r = out["logp"], out["dlogp"], out["row_logp"], out["row_dlogp"]
        assert np.isfinite(lp_p) and np.all(np.isfinite(g_p))
        np.testing.assert_allclose(lp_p, lp_r, rtol=1e-10)
        # rtol 1e-10 per element; elements near 0 against the gradient's scale (sums that cancel)
        np.testing.assert_allclose(g_p, g_r, rtol=1e-10, atol=1e-10 * np.abs(g_r).max())


def test_kernel_equals_a_sum_over_the_logs_rows(case):
    """The pattern model's log-likelihood against one term per row of the log, binned here from its values."""
    data, logs, measures = case["data"], case["logs"], case["measures"]
    rows = logs.rows()
    keys = _row_keys(rows, logs, data, measures)
    pkeys = _pattern_keys(data, measures)
    # the counts are the answers: every answer in exactly one pattern, every pattern's count its answers
    assert Counter(keys) == dict(zip(pkeys, data.count.tolist()))
    where = {k: (c, u) for k, c, u in zip(pkeys, data.pattern_cell, data.pattern_emission)}
    cell, unit = np.array([where[k] for k in keys]).T
    for point in _points(case["pat_model"], seed=1 + len(case["name"]), n=2):
        out = case["fn"](point)
        ll, logw, logf = out["loglik"], out["logw"], out["logf"]
        per_row = logsumexp(logw[cell] + logf[unit], axis=1)
        np.testing.assert_allclose(ll, per_row.sum(), rtol=1e-10)
        # not vacuous: one answer moved to another emission pattern changes the sum
        other = next(u for u in range(len(logf)) if not np.isclose(logsumexp(logw[cell[0]] + logf[u]), per_row[0]))
        moved = per_row.sum() - per_row[0] + logsumexp(logw[cell[0]] + logf[other])
        assert abs(moved - ll) > 1e-6 * abs(ll)


def test_the_patterns_aggregate(case):
    """Fewer likelihood terms than answers, and every kind's categories seen, no_score included."""
    data, measures = case["data"], case["measures"]
    n_rows = len(case["logs"].rows())
    assert data.count.sum() == n_rows
    assert len(data.count) < n_rows and len(data.count) <= 0.75 * n_rows, (len(data.count), n_rows)
    for m in measures:
        seen = set(np.unique(data.pattern_cat[m]).tolist())
        n_cat = data.patterns.grids[m].n_bins + 1
        assert 0 in seen and len(seen) >= min(n_cat, 4), (m, seen)        # no_score and several bins or levels
    assert len(data.prompts) == 2 and len(data.conditions) == 3 and data.coefs == ["format[json]"]


def test_one_changed_answer_changes_the_row_model(built):
    """The row model reads the answers: the same log with one answer's value moved to another category gives
    another log density at the same point (on the combined log only: each rebuild is a compile)."""
    case = built("combined")
    df = case["df"].copy()
    i = int(np.flatnonzero(df["grade"].notna())[0])
    df.loc[i, "grade"] = "D" if str(df.loc[i, "grade"]).upper() != "D" else "A"
    path = case["path"].with_name("changed.parquet")
    df.to_parquet(path)
    logs = open_logs(path, roles_for(case["measures"], False))
    changed, _ = build_model(case["spec"], logs.patterns(), rows=True)
    assert [v.name for v in changed.value_vars] == [v.name for v in case["row_model"].value_vars]
    f = changed.compile_fn(changed.logp(), mode=MODE)
    for point in _points(case["pat_model"], seed=7, n=2):
        before = case["fn"](point)["row_logp"]
        assert abs(f(point) - before) > 1e-8 * abs(before)
