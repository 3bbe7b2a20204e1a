"""Model comparison by PSIS-LOO (ArviZ), per answer, from fits that ran on aggregated patterns.

Fits see unique patterns with counts, but the unit of prediction is the answer. Answers that share a pattern have
identical log-likelihood draws, so their PSIS-LOO values (``elpd_i``, Pareto k) are identical too: PSIS-LOO of the
pattern once, repeated ``count`` times, *is* the row-level PSIS-LOO, exactly (``tests/test_compare.py`` checks
this against ArviZ on the expanded rows). :func:`loo` does that without materialising a (draws x answers) array:
one PSIS per pattern, then the per-answer ``ELPDDataLOO`` (``elpd_i`` and ``pareto_k`` repeated by count; ``elpd``,
``se`` and ``p`` as ArviZ computes them from the per-answer values), which :func:`compare` passes to
``arviz_stats.compare`` (ELPD differences, their standard errors, stacking weights).

Models are comparable only on the same answers at the same resolution: :func:`compare` refuses fits whose
(coarsened) pattern tables differ.

>>> from simstats.results import load_result                               # doctest: +SKIP
>>> table = compare({"K=4": load_result("runs/k4"), "K=3": load_result("runs/k3")})   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError


def pattern_loo(result) -> Any:
    """PSIS-LOO with one observation per unique pattern (``arviz_stats.loo``, pointwise), and the (chain, draw,
    pattern) log-likelihood. Kept on the result after the first call: PSIS of a real-log fit takes tens of seconds,
    and :func:`compare` and :func:`elpd_by_condition` of the same runs need it once."""
    cached = getattr(result, "_simstats_pattern_loo", None)
    if cached is not None:
        return cached
    out = _pattern_loo(result)
    try:
        object.__setattr__(result, "_simstats_pattern_loo", out)
    except (AttributeError, TypeError):             # an object without a __dict__: compute again next time
        pass
    return out


def _pattern_loo(result) -> Any:
    import arviz_stats as azs
    import xarray as xr

    ll = result.model_kind.pattern_log_likelihood(result.posterior, result.spec, result.data)  # (chain, draw, pattern)
    # ArviZ reads the chain/draw layout from a posterior group; the log-likelihood is all PSIS needs
    tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({"y": (("chain", "draw", "pattern"), ll)}),
                                  "posterior": xr.Dataset({"draw_index": (("chain", "draw"),
                                                                          np.zeros(ll.shape[:2]))})})
    return azs.loo(tree, pointwise=True, var_name="y"), ll


def loo(result) -> Any:
    """Per-answer PSIS-LOO of a fit (an ``arviz_stats`` ``ELPDDataLOO`` over ``answer``), exact from patterns."""
    import xarray as xr

    pl, ll = pattern_loo(result)
    count = result.data.count.astype(np.int64)
    elpd_p = np.asarray(pl.elpd_i, float)
    n = int(count.sum())
    elpd_i = np.repeat(elpd_p, count)
    # lppd per pattern (log of the posterior mean likelihood) -> effective number of parameters, as ArviZ does
    flat = ll.reshape(-1, ll.shape[-1])
    m = flat.max(0)
    lppd_p = m + np.log(np.exp(flat - m).mean(0))
    elpd = float((count * elpd_p).sum())
    answer = xr.DataArray(np.arange(n), dims="answer")
    out = dataclasses.replace(
        pl, elpd=elpd, se=float(np.sqrt(n * np.var(elpd_i, ddof=1))), p=float((count * (lppd_p - elpd_p)).sum()),
        n_data_points=n, elpd_i=xr.DataArray(elpd_i, dims="answer", coords={"answer": answer}),
        pareto_k=xr.DataArray(np.repeat(np.asarray(pl.pareto_k, float), count), dims="answer",
                              coords={"answer": answer}),
        log_weights=None)
    return out


def _same_answers(results: Mapping[str, Any]) -> None:
    names = list(results)
    ref = results[names[0]].data.patterns
    for nm in names[1:]:
        p = results[nm].data.patterns
        if p.n_answers != ref.n_answers or p.data_hash() != ref.data_hash():
            raise SimstatsError(f"runs {names[0]!r} and {nm!r} were fitted to different answers or at different "
                                "score resolutions (bins); LOO compares models on the same data only")


def compare(results: Mapping[str, Any]) -> pd.DataFrame:
    """``arviz_stats.compare`` of per-answer PSIS-LOO: one row per model, best first (columns ``rank, elpd_diff,
    dse, p_worse, diag_diff, diag_elpd, p, elpd, se, weight``), plus ``pareto_k_bad`` (answers with k above
    ArviZ's threshold) and ``status`` (each fit's diagnostics)."""
    import arviz_stats as azs

    if len(results) < 2:
        raise SimstatsError("compare needs at least two fitted runs")
    _same_answers(results)
    loos = {nm: loo(r) for nm, r in results.items()}
    table = azs.compare(loos, round_to="none")     # raw numbers; the CLI and the JSON format them
    table["pareto_k_bad"] = [int((np.asarray(loos[m].pareto_k) > loos[m].good_k).sum()) for m in table.index]
    table["status"] = [results[m].diagnostics.status for m in table.index]
    return table


def comparison_json(table: pd.DataFrame) -> dict[str, Any]:
    """The JSON of ``simstats compare --json``: ``models`` best first, each with ``name``, ``elpd_loo``,
    ``elpd_diff``, ``dse``, ``weight``, ``se``, ``p_loo`` and ``warnings``. ``elpd_diff`` follows ArviZ 1: the
    model's ELPD minus the best one's (0 for the best, negative for the others)."""
    models = []
    for name, row in table.iterrows():
        warnings = []
        if row.get("pareto_k_bad", 0):
            warnings.append(f"{int(row['pareto_k_bad'])} answers with Pareto k above the threshold")
        if row.get("status", "ok") != "ok":
            warnings.append(f"fit diagnostics: {row['status']}")
        if isinstance(row.get("diag_elpd"), str) and row["diag_elpd"]:
            warnings.append(str(row["diag_elpd"]))
        models.append({"name": str(name), "elpd_loo": float(row["elpd"]), "se": float(row["se"]),
                       "p_loo": float(row["p"]), "elpd_diff": float(row["elpd_diff"]), "dse": float(row["dse"]),
                       "weight": float(row["weight"]), "warnings": warnings})
    return {"models": models}


def comparison_sentences(report: dict[str, Any]) -> list[str]:
    """One plain sentence per non-best model of a :func:`comparison_json` report: by how much the best model
    predicts held-out answers better, in standard errors of the difference, and what that amounts to. Below 2 SE the
    two are not told apart; 4 SE or more is a clear preference (the issue's bar; LOO's dse is itself uncertain for
    small differences, so 2-4 is called modest).

    >>> comparison_sentences({"models": [{"name": "K=4", "elpd_diff": 0.0, "dse": 0.0},
    ...                                  {"name": "K=1", "elpd_diff": -120.0, "dse": 15.0}]})[0]
    'K=4 predicts held-out answers better than K=1 by 120.0 (SE 15.0, 8.0 SE): a clear preference.'
    """
    best, *rest = report["models"]
    out = []
    for m in rest:
        gap = -float(m["elpd_diff"])
        z = gap / m["dse"] if m["dse"] > 0 else float("inf")
        verdict = ("the data do not tell them apart" if z < 2 else
                   "a modest preference" if z < 4 else "a clear preference")
        out.append(f"{best['name']} predicts held-out answers better than {m['name']} by {gap:.1f} "
                   f"(SE {m['dse']:.1f}, {z:.1f} SE): {verdict}.")
    return out


def elpd_by_condition(results: Mapping[str, Any], reference: str | None = None) -> pd.DataFrame:
    """Where does one model beat another? Per-answer PSIS-LOO summed within each condition.

    One row per (condition, model): ``n_answers``, ``elpd`` (the sum of the condition's ``elpd_i``), and against
    ``reference`` (default: the first model) ``elpd_diff`` (model minus reference, so negative means the reference
    predicts the condition's answers better) with ``dse = sqrt(n * var(diff_i))``, the same paired standard
    error as ``compare`` uses, restricted to the condition. The per-condition differences add up to the overall
    ``elpd_diff``.

    >>> table = elpd_by_condition({"K=4": k4, "degradation": deg}, reference="K=4")   # doctest: +SKIP
    """
    if len(results) < 2:
        raise SimstatsError("elpd_by_condition needs at least two fitted runs")
    _same_answers(results)
    names = list(results)
    reference = names[0] if reference is None else reference
    if reference not in results:
        raise SimstatsError(f"reference {reference!r} is not one of the runs {names}")
    elpd_p, first = {}, results[reference].data
    for nm, r in results.items():
        if not np.array_equal(r.data.count, first.count):
            raise SimstatsError(f"runs {reference!r} and {nm!r} order their patterns differently")
        elpd_p[nm] = np.asarray(pattern_loo(r)[0].elpd_i, float)
    cond = np.asarray(first.conditions)[first.cell_condition[first.pattern_cell]]
    count = first.count.astype(np.int64)
    rows = []
    for c in first.conditions:
        sel = cond == c
        n = int(count[sel].sum())
        w = count[sel]
        for nm in names:
            diff = elpd_p[nm][sel] - elpd_p[reference][sel]
            mean = float((w * diff).sum() / n)
            var = float((w * (diff - mean) ** 2).sum() / (n - 1)) if n > 1 else 0.0
            rows.append({"condition": c, "model": nm, "n_answers": n, "elpd": float((w * elpd_p[nm][sel]).sum()),
                         "elpd_diff": float((w * diff).sum()), "dse": float(np.sqrt(n * var))})
    return pd.DataFrame(rows)


__all__ = ["compare", "comparison_json", "comparison_sentences", "elpd_by_condition", "loo", "pattern_loo"]
