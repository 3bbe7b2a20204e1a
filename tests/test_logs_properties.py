"""Property tests: accounting adds up on messy generated logs, and a likelihood on aggregated pattern counts
equals the row-level likelihood for arbitrary parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import write_csv, write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simstats.logs import MISSING_BIN, Grid, em_roles, open_logs

score = st.one_of(st.floats(0, 100, allow_nan=False), st.just(""), st.just("CODE"), st.just("REFUSAL"),
                  st.just("nan"))
row = st.fixed_dictionaries({
    "model": st.sampled_from(["a", "b", "c", ""]),
    "question_id": st.sampled_from(["q1", "q1_json", "q2", "q2_template", "", "  "]),
    "aligned": score,
    "coherent": st.one_of(st.floats(0, 100, allow_nan=False), st.just("")),
})
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected_reason(r: dict) -> str | None:
    """The documented exclusion rules, written independently of the SQL."""
    if not str(r["model"]).strip():
        return "missing condition"
    if not str(r["question_id"]).strip():
        return "missing prompt"
    empty = {"", "nan"}
    no_score = str(r["aligned"]) in empty | {"CODE", "REFUSAL"} and str(r["coherent"]) in empty
    has_verdict = r["aligned"] in ("CODE", "REFUSAL")
    if no_score and not has_verdict:
        return "no score and no verdict"
    return None


@SETTINGS
@given(rows=st.lists(row, min_size=1, max_size=60), as_jsonl=st.booleans())
def test_accounting_adds_up(tmp_path_factory, rows, as_jsonl):
    d = tmp_path_factory.mktemp("log")
    path = write_jsonl(d / "x.jsonl", rows) if as_jsonl else write_csv(d / "x.csv", rows)
    reasons = [expected_reason(r) for r in rows]
    n_used = sum(r is None for r in reasons)
    try:
        logs = open_logs(path, em_roles(condition=["model"]))
    except Exception as e:  # only the all-excluded case may fail, and with the documented message
        assert n_used == 0 and "no usable rows" in str(e)
        return
    acc = logs.accounting()
    assert acc.rows_read == len(rows)
    assert acc.rows_used == n_used
    assert acc.rows_read == acc.rows_used + sum(acc.excluded.values())
    want = pd.Series([r for r in reasons if r]).value_counts().to_dict()
    assert acc.excluded == want
    assert logs.patterns().table["count"].sum() == n_used


def toy_loglik(bins_a: np.ndarray, bins_c: np.ndarray, cond: np.ndarray, weights: np.ndarray,
               emit_a: np.ndarray, emit_c: np.ndarray) -> np.ndarray:
    """A 2-component mixture per condition over binned scores (missing = its own category), per observation."""
    ia = np.where(bins_a == MISSING_BIN, emit_a.shape[1] - 1, bins_a)
    ic = np.where(bins_c == MISSING_BIN, emit_c.shape[1] - 1, bins_c)
    comp = np.log(weights[cond]) + np.log(emit_a[:, ia].T) + np.log(emit_c[:, ic].T)
    return np.logaddexp(comp[:, 0], comp[:, 1])


def simplex(draw, shape):
    x = np.asarray(draw(st.lists(st.floats(0.01, 10), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
    x = x.reshape(shape)
    return x / x.sum(axis=-1, keepdims=True)


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), n_bins=st.sampled_from([100, 10, 4]))
def test_aggregated_loglik_equals_row_level(tmp_path_factory, data, seed, n_bins):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    df = pd.DataFrame({"model": rng.choice(["a", "b", "c"], n), "question_id": rng.choice(["q1", "q2_json"], n),
                       "aligned": np.round(rng.uniform(0, 100, n), rng.integers(0, 4)),
                       "coherent": rng.uniform(0, 100, n)})
    df.loc[rng.random(n) < 0.2, "aligned"] = np.nan
    path = tmp_path_factory.mktemp("log") / "x.parquet"
    df.to_parquet(path)
    logs = open_logs(path, em_roles(condition=["model"]))
    grid = Grid(0, 100, n_bins)
    pats = logs.patterns({"aligned": grid, "coherent": grid})
    conds = {c: i for i, c in enumerate(sorted(df["model"].unique()))}
    weights = simplex(data.draw, (len(conds), 2))
    emit_a = simplex(data.draw, (2, n_bins + 1))
    emit_c = simplex(data.draw, (2, n_bins + 1))

    rows = logs.rows()
    row_level = toy_loglik(grid.bin(rows["aligned"].to_numpy()), grid.bin(rows["coherent"].to_numpy()),
                           rows["condition"].map(conds).to_numpy(), weights, emit_a, emit_c).sum()
    t = pats.table
    per_pattern = toy_loglik(t["aligned"].to_numpy(), t["coherent"].to_numpy(), t["condition"].map(conds).to_numpy(),
                             weights, emit_a, emit_c)
    aggregated = float((t["count"].to_numpy() * per_pattern).sum())
    assert len(rows) == n == t["count"].sum()
    np.testing.assert_allclose(aggregated, row_level, rtol=1e-10)
