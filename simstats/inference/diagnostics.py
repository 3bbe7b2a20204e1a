"""Convergence diagnostics of a fit with one clear status.

R-hat and bulk/tail ESS come from ArviZ; divergences from the sampler's stats; the label-switching check compares
each chain's (and each half-chain's) persona fingerprints with the first chain's and flags any chain whose personas
match better under a permutation than as labelled.
"""

from __future__ import annotations

import warnings

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: The thresholds of a converged fit (Vehtari et al. 2021 recommend R-hat <= 1.01 and ESS >= 400 for 4 chains).
MAX_RHAT = 1.01
MIN_ESS = 400


@dataclass
class Diagnostics:
    """Summary diagnostics; ``status`` is ``"ok"``, ``"warning"`` (usable with care) or ``"failed"``."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    label_switching: bool
    status: str
    messages: list[str] = field(default_factory=list)
    worst: dict[str, str] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    checked: bool = True               # False for approximations (ADVI, pathfinder): no MCMC diagnostics exist
    #: what the user can change, in plain words, when the fit is not ok (:mod:`simstats.inference.advice`)
    advice: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Every threshold met: R-hat, bulk and tail ESS, no divergences, no switched or merged personas."""
        return self.checked and self.status == "ok"

    def summary(self) -> str:
        """One line: the numbers, then what is wrong (if anything)."""
        if not self.checked:
            return "approximate inference: no MCMC convergence diagnostics"
        s = (f"{self.status}: max R-hat {self.max_rhat:.3f}, min bulk ESS {self.min_ess_bulk:.0f}, min tail ESS "
             f"{self.min_ess_tail:.0f}, {self.divergences} divergences")
        return s + ("; " + "; ".join(self.messages) if self.messages else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fingerprint_matrix(posterior, fp_names: list[str]) -> np.ndarray:
    """(chain, draw, persona, features): every fingerprint probability of every persona, side by side."""
    parts = [np.asarray(posterior[n]) for n in fp_names]
    parts = [p.reshape(p.shape[0], p.shape[1], p.shape[2], -1) for p in parts]
    return np.concatenate(parts, axis=-1)


def label_switching(posterior, fp_names: list[str] | None = None) -> list[str]:
    """Chains (or half-chains) whose persona labels are permuted relative to chain 0; empty when none.

    >>> rng = np.random.default_rng(0)
    >>> a = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> post = {"fp_x": np.stack([np.broadcast_to(a, (50, 2, 2)), np.broadcast_to(a[::-1], (50, 2, 2))])}
    >>> label_switching(post)
    ['chain 1']
    """
    names = fp_names or [n for n in posterior if str(n).startswith("fp_")]
    if not names:
        return []
    fp = _fingerprint_matrix(posterior, names)
    n_chain, n_draw, K = fp.shape[:3]
    if K < 2:
        return []
    half = n_draw // 2
    # the reference is chain 0's first half, so that a switch inside chain 0 shows in its second half
    ref = fp[0, :half].mean(0) if half >= 10 else fp[0].mean(0)
    segments = {}
    for c in range(n_chain):
        segments[f"chain {c}"] = fp[c].mean(0)
        if half >= 10:
            segments[f"chain {c} (first half)"] = fp[c, :half].mean(0)
            segments[f"chain {c} (second half)"] = fp[c, half:].mean(0)
    perms = list(itertools.permutations(range(K))) if K <= 7 else [tuple(range(K))]
    # personas that the reference chain cannot tell apart cannot switch meaningfully: require the labelled match
    # to be off by a good part of the smallest distance between two personas
    gap = min(float(np.abs(ref[i] - ref[j]).sum()) for i in range(K) for j in range(i + 1, K))
    identity = tuple(range(K))
    flagged = []
    for name, seg in segments.items():
        cost = {p: float(np.abs(seg[list(p)] - ref).sum()) for p in perms}
        best = min(cost, key=cost.get)
        if best != identity and cost[best] < 0.5 * cost[identity] and cost[identity] > 0.5 * gap:
            flagged.append(name)
    # a chain flagged whole is reported once, not with its halves
    whole = {f.split(" (")[0] for f in flagged if "(" not in f}
    return [f for f in flagged if "(" not in f or f.split(" (")[0] not in whole]


def merged_personas(posterior, fp_names: list[str] | None = None, tol: float = 0.1) -> list[str]:
    """Pairs of personas whose fingerprints, in some chain, are within ``tol`` (L1 distance averaged over the
    measures): two names for one behaviour, which makes both shares meaningless.

    >>> a = np.array([[0.9, 0.1], [0.88, 0.12]])
    >>> merged_personas({"fp_x": np.broadcast_to(a, (1, 20, 2, 2))}, tol=0.1)
    ['chain 0: personas 0 and 1']
    """
    names = fp_names or [n for n in posterior if str(n).startswith("fp_")]
    if not names:
        return []
    fp = _fingerprint_matrix(posterior, names)
    K = fp.shape[2]
    try:
        labels = [str(x) for x in posterior[names[0]].coords[posterior[names[0]].dims[2]].values]
    except (AttributeError, KeyError, IndexError):
        labels = [str(k) for k in range(K)]
    out = []
    for c in range(fp.shape[0]):
        m = fp[c].mean(0)
        for i in range(K):
            for j in range(i + 1, K):
                if np.abs(m[i] - m[j]).sum() / len(names) < tol:
                    out.append(f"chain {c}: personas {labels[i]} and {labels[j]}")
    return out


def _worst(stat, post, names: list[str], pick) -> tuple[float, str]:
    """The largest (``pick=max``) or smallest (``min``) value of ``stat`` over the live elements of ``names``
    (constant elements, such as a reference persona's 0, have no R-hat or ESS), with the variable it belongs to."""
    worst = (-np.inf, "") if pick is max else (np.inf, "")
    for n in names:
        x = np.asarray(post[n])
        sd = x.std(axis=(0, 1))
        live = np.atleast_1d(sd > 1e-12 * (1 + np.abs(x.mean(axis=(0, 1)))))
        if not live.any():
            continue
        v = np.atleast_1d(np.asarray(stat[n]))[live]
        v = float(np.nanmax(v) if pick is max else np.nanmin(v))
        if (v > worst[0]) if pick is max else (v < worst[0]):
            worst = (v, n)
    return worst


def min_bulk_ess(idata, var_names: list[str] | None = None) -> tuple[float, str]:
    """The smallest bulk ESS over ``var_names`` (default: every posterior variable) and its variable: the cheap
    first look of sampling to the gate, which the other diagnostics follow only once it reaches 400."""
    import arviz as az

    post = idata["posterior"]
    names = var_names or [str(v) for v in post.data_vars]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        ess = az.ess(idata, var_names=names, method="bulk")
    return _worst(ess, post, names, min)


def divergences(idata) -> int:
    """Divergent transitions in the sampler's statistics (0 when it records none)."""
    if "sample_stats" in idata.children and "diverging" in idata["sample_stats"].data_vars:
        return int(np.asarray(idata["sample_stats"]["diverging"]).sum())
    return 0


def diagnose(idata, var_names: list[str] | None = None, *, max_rhat: float = MAX_RHAT,
             min_ess: float = MIN_ESS) -> Diagnostics:
    """R-hat, bulk/tail ESS, divergences and label switching over ``var_names`` (default: every posterior
    variable); constant elements (a reference persona's log-odds fixed at 0) are skipped."""
    import arviz as az

    post = idata["posterior"]
    names = var_names or [str(v) for v in post.data_vars]
    # constant elements (the reference persona's 0, a left-out level's sd) have no R-hat: ArviZ divides 0 by 0 there
    # and warns; they are skipped below
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        rhat, ess_b, ess_t = az.rhat(idata, var_names=names), az.ess(idata, var_names=names, method="bulk"), \
            az.ess(idata, var_names=names, method="tail")
    worst_r, worst_eb, worst_et = _worst(rhat, post, names, max), _worst(ess_b, post, names, min), \
        _worst(ess_t, post, names, min)
    div = divergences(idata)
    switched = label_switching(post)
    merged = merged_personas(post)
    msgs = []
    if worst_r[0] > max_rhat:
        msgs.append(f"R-hat {worst_r[0]:.3f} > {max_rhat} ({worst_r[1]})")
    if worst_eb[0] < min_ess:
        msgs.append(f"bulk ESS {worst_eb[0]:.0f} < {min_ess} ({worst_eb[1]})")
    if worst_et[0] < min_ess:
        msgs.append(f"tail ESS {worst_et[0]:.0f} < {min_ess} ({worst_et[1]})")
    if div:
        msgs.append(f"{div} divergent transitions")
    if switched:
        msgs.append("persona labels switched in " + ", ".join(switched) + " (a chain moved to another labelling; "
                    "small logs: refit with target_accept 0.99, or a stronger anchor_strength)")
    if merged:
        msgs.append("merged personas (" + ", ".join(merged) + ")")
    if switched or merged or worst_r[0] > 1.1 or not np.isfinite(worst_r[0]):
        status = "failed"
    elif msgs:
        status = "warning"
    else:
        status = "ok"
    return Diagnostics(worst_r[0], worst_eb[0], worst_et[0], div, bool(switched), status, msgs,
                       {"rhat": worst_r[1], "ess_bulk": worst_eb[1], "ess_tail": worst_et[1]}, merged)


def approximate(idata, method: str) -> Diagnostics:
    """Diagnostics of an approximation (ADVI, pathfinder): no R-hat or ESS exist; status ``warning`` so that its
    numbers are shown, flagged, and never taken for a converged MCMC fit. Merged personas still fail it."""
    merged = merged_personas(idata["posterior"])
    msgs = [f"approximate inference ({method}): no MCMC convergence diagnostics; check against an MCMC fit"]
    if merged:
        msgs.append("merged personas (" + ", ".join(merged) + ")")
    return Diagnostics(float("nan"), float("nan"), float("nan"), 0, False, "failed" if merged else "warning", msgs,
                       {}, merged, checked=False)
