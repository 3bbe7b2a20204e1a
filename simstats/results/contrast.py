"""Contrasts and evidence: the posterior of a difference between two conditions (or two values of a prompt
feature), and prompt-feature and condition effects read as the evidence they carry, in nats.

A contrast is computed draw by draw inside one fitted model, so that what the two sides share (the same questions,
the same fingerprints) cancels instead of adding to the uncertainty, as it would if two separate fits were compared.

>>> from simstats.results.contrast import difference_table
>>> import numpy as np
>>> d = np.array([[0.1, 0.2, 0.3, -0.1]])           # (chain, draw) draws of one difference
>>> difference_table({"x": d}, prob=0.5).round(3).to_dict("records")
[{'mean': 0.125, 'low': 0.05, 'high': 0.225, 'p_gt_0': 0.75}]
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.kinds.base import PROB, check_prob, interval
from simstats.theory import formalism

# ``FitResult`` is named in annotations only (it imports this module; a runtime import would be a cycle)


def difference_table(draws: dict, prob: float = PROB, names: tuple[str, ...] = ("persona",)) -> pd.DataFrame:
    """Mean, equal-tailed ``prob`` interval and P(difference > 0) of each (chain, draw) array in ``draws``.

    Keys are the rows' labels (tuples for a MultiIndex named ``names``); a difference with no draws (NaN: a
    condition without answers at a feature level) gives NaN."""
    rows = {}
    for key, d in draws.items():
        d = np.asarray(d, dtype=float)
        if not np.isfinite(d).all():
            rows[key] = {"mean": np.nan, "low": np.nan, "high": np.nan, "p_gt_0": np.nan}
            continue
        mean, low, high = interval(d, prob)
        rows[key] = {"mean": float(mean), "low": float(low), "high": float(high), "p_gt_0": float((d > 0).mean())}
    index = (pd.MultiIndex.from_tuples(list(rows), names=list(names)) if len(names) > 1
             else pd.Index(list(rows), name=names[0]))
    return pd.DataFrame(list(rows.values()), index=index, columns=["mean", "low", "high", "p_gt_0"])


def _pick(value: str, choices: list[str], what: str) -> int:
    if value in choices:
        return choices.index(value)
    close = difflib.get_close_matches(value, choices, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f" ({what}s: {', '.join(choices[:20])})"
    raise SimstatsError(f"{value!r} is not a {what} of this fit{hint}")


def contrast(result: FitResult, a: str, b: str, *, persona: str | None = None, behaviour: str | None = None,
             feature: str | None = None, at: str | None = None, prob: float = PROB) -> pd.DataFrame:
    """The posterior of (condition ``a``) − (condition ``b``): each persona's share, or one persona's, or a
    behaviour's predicted rate; with ``feature``, ``a`` and ``b`` are two values of that prompt feature and the
    difference is taken within each condition (rows per condition). ``at = "feature=value"`` compares the two
    conditions on their prompts with that feature value only (e.g. two checkpoints on the questions outside their
    training domain) instead of over each condition's own prompt mix.

    Columns ``mean``, ``low``, ``high`` (the ``prob`` interval) and ``p_gt_0`` = P(difference > 0); the table's
    ``attrs`` say what was contrasted.
    """
    if persona is not None and behaviour is not None:
        raise SimstatsError("contrast either a persona's share or a behaviour's rate, not both")
    if feature is not None and at is not None:
        raise SimstatsError("contrast: --at compares two conditions at one feature value; with --feature the two "
                            "values are compared within each condition; give one of them")
    prob = check_prob(prob)
    for name, value in (("a", a), ("b", b), ("persona", persona), ("behaviour", behaviour), ("feature", feature),
                        ("at", at)):
        if value is not None and not isinstance(value, str):
            raise SimstatsError(f"contrast: {name} must be a name (a string), got {value!r}")
    data = result.data
    if feature is None:
        conditions = list(data.conditions)
        ia, ib = _pick(a, conditions, "condition"), _pick(b, conditions, "condition")
        if at is None:
            rate = result.behaviour_rate_draws(behaviour) if behaviour is not None else None
            s = result.share_draws() if behaviour is None else None          # (chain, draw, condition, K)
        else:
            at_feature, level = _feature_value(data, at)
            rate, s = _at_level(result, at_feature, level, behaviour)
            side = rate[..., [ia, ib]] if s is None else s[..., [ia, ib], :]
            if not np.isfinite(side).all():
                raise SimstatsError(f"contrast: {a!r} or {b!r} has no answer with {at}, so nothing can be compared "
                                    "there")
        if behaviour is not None:
            draws = {result.behaviour(behaviour).name: rate[..., ia] - rate[..., ib]}
            names = ("behaviour",)
        else:
            ks = [_pick(persona, result.personas, "persona")] if persona else range(len(result.personas))
            draws = {result.personas[k]: s[..., ia, k] - s[..., ib, k] for k in ks}
            names = ("persona",)
    else:
        levels = _levels(data, feature)
        ia, ib = _pick(a, levels, f"value of {feature}"), _pick(b, levels, f"value of {feature}")
        rate, s = _by_level(result, feature, behaviour)
        if behaviour is not None:
            b_name = result.behaviour(behaviour).name
            draws = {(c, b_name): rate[..., i, ia] - rate[..., i, ib] for i, c in enumerate(data.conditions)}
            names = ("condition", "behaviour")
        else:
            ks = [_pick(persona, result.personas, "persona")] if persona else range(len(result.personas))
            draws = {(c, result.personas[k]): s[..., i, ia, k] - s[..., i, ib, k]
                     for i, c in enumerate(data.conditions) for k in ks}
            names = ("condition", "persona")
    out = difference_table(draws, prob, names)
    out.attrs.update({"a": a, "b": b, "feature": feature, "prob": prob,
                      "of": "rate" if behaviour is not None else "share"})
    if at is not None:
        out.attrs["at"] = at
    return out


def _levels(data, feature: str) -> list[str]:
    if feature not in data.feature_levels:
        raise SimstatsError(f"{feature!r} is not a prompt feature of this fit "
                            f"(features: {list(data.feature_levels) or 'none'})")
    return list(data.feature_levels[feature])


def _feature_value(data, at: str) -> tuple[str, int]:
    """``"feature=value"`` -> (feature, index of the value in its levels)."""
    feature, sep, value = at.partition("=")
    if not sep or not feature.strip() or not value.strip():
        raise SimstatsError(f"contrast: --at {at!r} must be FEATURE=VALUE (e.g. --at domain=general)")
    feature, value = feature.strip(), value.strip()
    return feature, _pick(value, _levels(data, feature), f"value of {feature}")


def _by_level(result: FitResult, feature: str, behaviour: str | None):
    """(rate, shares) per condition and feature level: (chain, draw, C, L) for a behaviour, else (chain, draw, C,
    L, K); the other is ``None``. NaN where a condition has no answer at a level."""
    data = result.data
    C, L = len(data.conditions), len(data.feature_levels[feature])
    if behaviour is not None:
        rate = result.model_kind.behaviour_rate_draws(result, result.behaviour(behaviour), data.feature_mix(feature))
        return rate.reshape(*rate.shape[:-1], C, L), None
    from simstats.kinds.mixture.tables import feature_shares

    if not result.model_kind.has_personas:
        result.model_kind.share_draws(result)                               # raises its "no personas" message
    return None, feature_shares(result.posterior, data, feature)


def _at_level(result: FitResult, feature: str, level: int, behaviour: str | None):
    """:func:`_by_level` at one level: (chain, draw, C) rates or (chain, draw, C, K) shares."""
    rate, s = _by_level(result, feature, behaviour)
    return (rate[..., level], None) if s is None else (None, s[..., level, :])


def contrast_dict(table: pd.DataFrame) -> dict:
    """The JSON form of a :func:`contrast` table (``simstats contrast --json``)."""
    rows = []
    for key, row in table.iterrows():
        labels = dict(zip(table.index.names, key if isinstance(key, tuple) else (key,)))
        rows.append({**labels, **{k: (None if pd.isna(v) else float(v)) for k, v in row.items()}})
    return {**{k: v for k, v in table.attrs.items()}, "rows": rows}


# --------------------------------------------------------------------------------------------------- evidence
def evidence_draws(result: FitResult) -> dict[tuple[str, str], np.ndarray]:
    """(term kind, term) -> (chain, draw, K) draws of the evidence a term carries for each persona against the
    reference persona, in nats: a prompt feature's (or trigger's) log-likelihood ratio of the context,
    :func:`~simstats.theory.formalism.context_evidence` of the one-hot context that has the term, and a condition
    effect's shift of the prior log-odds (the evidence the fine-tuning data carry, as in
    :func:`~simstats.theory.formalism.finetune_update`). Numeric effects are per unit of their column."""
    import simstats.kinds.mixture.graph as G

    if not result.model_kind.has_personas:
        return {}
    post, data = result.posterior, result.data
    out: dict[tuple[str, str], np.ndarray] = {}
    blocks = [("prompt feature", data.coefs, G.FEATURES.evaluate(post)),
              ("interaction", data.interaction_coefs, G.INTERACTIONS.evaluate(post))]
    if G.EFFECTS.beta in post:
        beta = np.asarray(post[G.EFFECTS.beta])
        blocks.append(("condition effect", data.condition_coefs,
                       np.concatenate([np.zeros((*beta.shape[:-1], 1)), beta], axis=-1)))
    for kind, terms, coef in blocks:
        if coef is None or not len(terms):
            continue
        for j, term in enumerate(terms):
            x = np.zeros(len(terms))
            x[j] = 1.0
            ev = formalism.context_evidence(x, coef)                        # (chain, draw, K)
            out[(kind, term)] = ev - ev[..., :1]                            # against the reference persona
    return out


def evidence_table(result: FitResult, prob: float = PROB) -> pd.DataFrame:
    """Each prompt-feature, interaction and condition effect as evidence in nats for each non-reference persona
    against the reference persona: index (term, persona), columns ``source``, ``mean``, ``low``, ``high``,
    ``p_gt_0``. Empty for a model without personas or without such terms."""
    rows = []
    for (kind, term), ev in evidence_draws(result).items():
        for k, p in enumerate(result.personas[1:], start=1):
            d = ev[..., k]
            mean, low, high = interval(d, prob)
            rows.append({"term": term, "persona": p, "source": kind, "mean": float(mean), "low": float(low),
                         "high": float(high), "p_gt_0": float((d > 0).mean())})
    cols = ["source", "mean", "low", "high", "p_gt_0"]
    if not rows:
        return pd.DataFrame(columns=cols, index=pd.MultiIndex.from_tuples([], names=["term", "persona"]))
    return pd.DataFrame(rows).set_index(["term", "persona"])[cols]


__all__ = ["contrast", "contrast_dict", "difference_table", "evidence_draws", "evidence_table"]
