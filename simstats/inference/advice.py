"""What a user can do about a fit that did not converge: plain-language advice from the posterior's geometry.

The diagnostics say *that* a fit failed (R-hat, ESS, divergences); this module says *why, likely*, and what to
change, from three patterns that account for most failures on real designs:

- **a funnel at a hierarchy sd**: the sd of a level with few groups (two conditions, five fine-tunes) is informed by
  its prior alone, and its divergent draws sit at its small values, where the groups' deviations are squeezed;
- **terms that trade off**: two parameters (a base condition's own deviation and a fine-tune effect against it, a
  feature effect and a question effect) whose posterior correlation is near +-1: the data fix only their sum;
- **a persona the data do not see**: under 0.5% of the answers of every condition, so its fingerprint and effects
  rest on their priors;
- **a parameter bounded on one side**: divergent draws in one tail of a log-odds (a persona at a floor in some
  condition), when no funnel explains them.

>>> import numpy as np
>>> from simstats.inference.advice import trade_offs
>>> rng = np.random.default_rng(0)
>>> a = rng.normal(size=(2, 500)); post = {"a": a, "b": -a + 0.05 * rng.normal(size=(2, 500))}
>>> trade_offs(post, ["a"], ["a", "b"])[0][:3]
('a', 'b', -0.99...)
"""

from __future__ import annotations

import itertools

import numpy as np

from simstats.inference.diagnostics import MAX_RHAT, MIN_ESS

#: |posterior correlation| from which two parameters are said to trade off
TRADE_OFF = 0.9
#: at most this many scalar parameters are correlated (the worst ones against everything else), over at most
#: MAX_DRAWS draws (evenly thinned): enough to see |r| >= 0.9, and cheap next to the fit
MAX_ELEMENTS = 1500
MAX_DRAWS = 2000
#: a level with at most this many groups (or residual degrees of freedom) informs its sd barely beyond its prior
FEW_GROUPS = 6
#: a persona under this share in every condition is "not seen"
UNSEEN_SHARE = 0.005


def _flat(post, name: str) -> tuple[np.ndarray, list[str]]:
    """(draws, elements) of one posterior variable, and each element's label."""
    x = np.asarray(post[name], dtype=float)
    flat = x.reshape(x.shape[0] * x.shape[1], -1)
    if hasattr(post[name], "dims") and x.ndim > 2:
        coords = [list(map(str, post[name][d].values)) for d in post[name].dims[2:]]
        labels = [f"{name}[{', '.join(c)}]" for c in itertools.product(*coords)]
    else:
        labels = [name] if flat.shape[1] == 1 else [f"{name}[{i}]" for i in range(flat.shape[1])]
    return flat, labels


def _simplex_rows(x, name: str) -> list:
    """For each flattened element of ``x`` (chain, draw, ...), the simplex it belongs to when the last axis sums
    to 1 in every draw (``(name, row)``), else ``None``."""
    a = np.asarray(x, dtype=float)
    n = int(np.prod(a.shape[2:])) if a.ndim > 2 else 1
    if a.ndim < 3 or a.shape[-1] < 2 or not np.allclose(a.sum(axis=-1), 1.0, atol=1e-6):
        return [None] * n
    return [(name, i // a.shape[-1]) for i in range(n)]


def trade_offs(post, worst: list[str], names: list[str], threshold: float = TRADE_OFF
               ) -> list[tuple[str, str, float]]:
    """Pairs (element of a ``worst`` variable, element of any of ``names``, correlation) whose posterior correlation
    is at least ``threshold`` in size, strongest first; constant elements are skipped, and so are two elements of
    one simplex (a fingerprint's bins sum to 1, so they trade off by construction, not for want of data)."""
    cols, labels, owner, simplex = [], [], [], []
    for n in names:
        if n not in post:
            continue
        f, lab = _flat(post, n)
        cols.append(f)
        labels += lab
        owner += [n] * len(lab)
        simplex += _simplex_rows(post[n], n)
    if not cols:
        return []
    X = np.concatenate(cols, axis=1)
    X = X[np.linspace(0, len(X) - 1, min(len(X), MAX_DRAWS)).astype(int)]
    keep = X.std(axis=0) > 1e-12
    labels, owner, simplex = ([v for v, k in zip(seq, keep) if k] for seq in (labels, owner, simplex))
    X = X[:, keep]
    if X.shape[1] > MAX_ELEMENTS or X.shape[0] < 10:
        return []
    Z = (X - X.mean(0)) / X.std(0)
    rows = [i for i, o in enumerate(owner) if o in worst]
    if not rows:
        return []
    corr = Z[:, rows].T @ Z / len(Z)
    out = []
    for a, i in enumerate(rows):
        for j in np.flatnonzero(np.abs(corr[a]) >= threshold):
            if j != i and (owner[j] != owner[i] or j > i) and (simplex[i] is None or simplex[i] != simplex[j]):
                out.append((labels[i], labels[j], float(corr[a, j])))
    out.sort(key=lambda t: -abs(t[2]))
    seen, unique = set(), []
    for a, b, r in out:
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            unique.append((a, b, r))
    return unique


def divergent_low(post, sample_stats, name: str) -> float | None:
    """The posterior quantile at which ``name``'s divergent draws sit (their median's rank): near 0 means the
    divergences happen at small values of it, a funnel's neck. ``None`` without divergent draws."""
    if sample_stats is None or "diverging" not in sample_stats:
        return None
    div = np.asarray(sample_stats["diverging"]).astype(bool).ravel()
    if not div.any() or name not in post:
        return None
    x = np.asarray(post[name], dtype=float)
    x = x.reshape(x.shape[0] * x.shape[1], -1).mean(axis=1)
    if len(x) != len(div):
        return None
    return float((x < np.median(x[div])).mean())


def divergent_edge(post, sample_stats, names: list[str], extreme: float = 0.1) -> tuple[str, float] | None:
    """The scalar parameter whose divergent draws sit furthest into one tail of its posterior (label, quantile of
    their median), when that quantile is below ``extreme`` or above 1 - ``extreme``; ``None`` otherwise."""
    if sample_stats is None or "diverging" not in sample_stats:
        return None
    div = np.asarray(sample_stats["diverging"]).astype(bool).ravel()
    if not div.any():
        return None
    best: tuple[str, float] | None = None
    for n in names:
        x, labels = _flat(post, n)
        if len(x) != len(div) or x.shape[1] > MAX_ELEMENTS:
            continue
        q = (x < np.median(x[div], axis=0)).mean(axis=0)
        q[x.std(axis=0) < 1e-12] = 0.5                          # constants (a reference level) say nothing
        i = int(np.argmax(np.abs(q - 0.5)))
        if min(q[i], 1 - q[i]) < extreme and (best is None or abs(q[i] - 0.5) > abs(best[1] - 0.5)):
            best = (labels[i], float(q[i]))
    return best


def _answers_per_condition(data) -> float:
    counts = getattr(data, "cell_count", None)
    return float(np.sum(counts)) / max(1, len(data.conditions)) if counts is not None else float("nan")


def level_groups(name: str, data) -> int | None:
    """How many groups inform the sd ``sigma_<level>``: the conditions' residual degrees of freedom (conditions
    minus the rank of the population mean and the condition effects) for the condition level, else the level's
    groups."""
    level = name.removeprefix("sigma_")
    if level == "condition":
        C = len(data.conditions)
        x = np.zeros((C, 0)) if data.condition_x is None else np.asarray(data.condition_x, float)
        return C - int(np.linalg.matrix_rank(np.column_stack([np.ones(C), x])))
    if level in getattr(data, "levels", []):
        return len(data.level_groups[data.levels.index(level)])
    return None


def _parts(idata, names: list[str] | None):
    """The posterior, the sample stats (or None) and the ``names`` that are in the posterior (default: all)."""
    post = idata["posterior"]
    stats = idata["sample_stats"] if "sample_stats" in idata.children else None
    return post, stats, [n for n in (names or [str(v) for v in post.data_vars]) if n in post]


def funnels(idata, diagnostics, data, names: list[str] | None = None) -> list[tuple[str, int | None, float | None]]:
    """The hierarchy sds that look like a funnel's neck, as ``(name, groups, where)``: ``sigma_<level>`` variables
    that failed the diagnostics or whose divergent draws sit at their smallest values (``where``, the quantile of
    :func:`divergent_low`, below 0.2); ``groups`` from :func:`level_groups`. Empty for an ``ok`` fit."""
    d = diagnostics
    if d.status == "ok" or not d.checked:
        return []
    post, stats, names = _parts(idata, names)
    out = []
    for name in [n for n in names if n.startswith("sigma_")]:
        where = divergent_low(post, stats, name)
        if _bad(d, name) or (where is not None and where < 0.2):
            out.append((name, level_groups(name, data), where))
    return out


def many_group_funnels(idata, diagnostics, data, names: list[str] | None = None) -> list[str]:
    """The sds of :func:`funnels` at a level of the condition hierarchy (the levels ``[hierarchy]
    parametrization`` governs; not, e.g., ``sigma_question``) with more than :data:`FEW_GROUPS` groups: each group
    carries too little data to pin its own log-odds, which the non-centred form answers (with few groups the prior
    is the problem instead)."""
    return [n for n, groups, _ in funnels(idata, diagnostics, data, names)
            if groups is not None and groups > FEW_GROUPS]


def advise(idata, diagnostics, data, shares: np.ndarray | None = None, names: list[str] | None = None,
           parametrization: str | None = None) -> list[str]:
    """Plain-language advice for a fit whose diagnostics are not ``ok`` (empty when they are). ``shares``: the
    posterior-mean persona shares (condition, persona) of a persona model, for the unseen-persona check; ``names``:
    the sampled variables (default: every posterior variable), among which trade-offs are looked for;
    ``parametrization``: the spec's, so that a funnel is not answered with the form already fitted."""
    d = diagnostics
    if d.status == "ok" or not d.checked:
        return []
    post, stats, names = _parts(idata, names)
    worst = sorted({w for w in d.worst.values() if w in names})
    bad = [w for w in worst if _bad(d, w)]
    out: list[str] = []
    for name, groups, where in funnels(idata, d, data, names):
        level = name.removeprefix("sigma_")
        few = f" with {groups} group{'s' if groups != 1 else ''} to inform it" if groups is not None else ""
        why = (f"its divergent draws sit at its smallest values (quantile {where:.2f})" if where is not None and
               where < 0.2 else "it mixes slowly")
        if groups is None:
            cause = "the data inform it barely beyond its prior, and [hierarchy] parametrization does not reach it"
            fix = ("give it a tighter prior (for sigma_question: [prompt] question_sigma) or leave its term out "
                   "(question_effect = \"none\")" if level == "question" else "give it a tighter prior")
        elif groups <= FEW_GROUPS:
            cause = "with so few groups its posterior rests on its prior"
            fix = ("give the conditions fixed effects that explain them ([conditions] effects) or a tighter "
                   "[hierarchy] sigma" if level == "condition" else
                   f"model {level} as a fixed effect ([conditions] effects) instead of a level, or a tighter "
                   "[hierarchy] sigma")
        else:
            per = (f" ({_answers_per_condition(data):,.0f} answers per condition on average)"
                   if level == "condition" else "")
            cause = f"each group carries too little data{per} to pin its own log-odds, so the centred form funnels"
            fix = ("set [hierarchy] parametrization = \"noncentred\" (or \"adaptive\": centred only where a "
                   "persona has answers enough)" if parametrization in ("centred", "mixed", None) else
                   f"the {parametrization} form funnels too: a tighter [hierarchy] sigma, or fewer, better-filled "
                   "groups")
        out.append(f"a funnel at {name}, the spread of the {level} level{few}: {why}; {cause}, so {fix}")
    if d.divergences and not any(t.startswith("a funnel") for t in out):
        edge = divergent_edge(post, stats, names)
        if edge is not None:
            label, q = edge
            out.append(f"the divergent draws sit at the {'low' if q < 0.5 else 'high'} end of {label} (quantile "
                       f"{q:.2f}): the data bound it on one side only (e.g. a persona with almost no answers in a "
                       "condition, so its log-odds can fall without limit); a persona with no answers anywhere can "
                       "go, else the divergences are few and the ladder's target_accept 0.99 is the fix")
    pairs = trade_offs(post, bad, names) if bad else []
    for a, b, r in pairs[:3]:
        out.append(f"{a} and {b} trade off (posterior correlation {r:+.2f}): the data fix only their "
                   f"{'sum' if r < 0 else 'difference'}; drop one of the two terms, or add data that separate them "
                   "(e.g. more than one condition at a reference level)")
    if shares is not None and getattr(data, "personas", None):
        s = np.asarray(shares)
        for k, p in enumerate(data.personas):
            if k and s.shape[0] and (s[:, k] < UNSEEN_SHARE).all():
                out.append(f"the {p} persona takes under {UNSEEN_SHARE:.1%} of the answers in every condition: the "
                           "data barely see it, so its fingerprint and effects rest on their priors; compare a spec "
                           "without it (simstats compare)")
    return out


def _bad(d, name: str) -> bool:
    """Whether ``name`` is where the diagnostics failed (its R-hat or ESS is the failing worst)."""
    return ((d.worst.get("rhat") == name and d.max_rhat > MAX_RHAT)
            or (d.worst.get("ess_bulk") == name and d.min_ess_bulk < MIN_ESS)
            or (d.worst.get("ess_tail") == name and d.min_ess_tail < MIN_ESS))
