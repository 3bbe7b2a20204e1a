"""The condition hierarchy: partial pooling of a per-condition parameter vector over the condition levels a log
declares (e.g. base model -> fine-tune -> run), one implementation for every model kind.

Structure (NumPy, from the data). Each level's groups (coarsest first, the condition last) get values around their
parent's, with one sd per level and parameter. A level whose groups the fixed part of the model already tells apart
is left out (:func:`identified_levels`), and a group with a single child hands its variance to the child instead of
having an effect of its own (:func:`collapse_single_child_groups`): the same prior on every condition, without the
ridge along which two effects trade off.

The PyMC term (:class:`HierarchyTerm`) builds, for parameters ``theta[c, p]``::

    theta[c] = mu + sum_levels effect_level[group(c)] + x_c . beta + condition effect
    effect ~ Normal(0, sd) per free group (centred or non-centred, see ``parametrization``)

It owns the names of its variables (:class:`HierarchyNames`, one table per model kind), gives the start values that
reproduce a target ``theta`` and the jitter rule of each variable, and evaluates the groups' values on draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simstats.graph.names import CONDITION, LEVEL

# ------------------------------------------------------------------------------------------------- structure


def collapse_single_child_groups(structure: str, level_index: list[np.ndarray], n_groups: list[int],
                                 n_conditions: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Which hierarchy variances each group's (and each condition's) effect carries.

    A group with a single child (nested: one group at the next level, or one condition under the last level;
    crossed: one condition) cannot separate its own effect from its child's: with ``eta = parent + s_g z_g + s_c z_c``
    only the sum is identified, and the sampler crawls along that ridge. ``s_g z_g + s_c z_c`` has the same
    distribution as ``sqrt(s_g^2 + s_c^2) z``, so the group's variance moves to its child and the group's own effect
    is switched off. This is an exact reparametrisation (same prior on every condition's values), not a change of
    model. Returns, per level, a (groups, L + 1) 0/1 matrix (column j: level j's variance; column L: the
    condition level's; an all-zero row is a switched-off group) and the (C, L + 1) matrix of the conditions.

    >>> scales, carried = collapse_single_child_groups("nested", [np.array([0, 0, 1])], [2], 3)
    >>> scales[0].tolist(), carried.tolist()          # group 1 has one condition: it hands its variance down
    ([[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    """
    L = len(level_index)
    carried = np.zeros((n_conditions, L + 1))       # per condition: variances passed down to it
    carried[:, L] = 1.0
    scales = []
    if structure == "nested":
        # walk from the coarsest level down; a group passes its variance set to its one child (group or condition)
        passed = np.zeros((n_conditions, L + 1))    # variance sets passed down to the groups along each path
        for lev in range(L):
            g_of_c = level_index[lev]
            child = level_index[lev + 1] if lev + 1 < L else np.arange(n_conditions)
            own = np.zeros((n_groups[lev], L + 1))
            for g in range(n_groups[lev]):
                members = g_of_c == g
                if not members.any():
                    continue
                want = passed[members][0].copy()
                want[lev] = 1.0
                if len(np.unique(child[members])) == 1:      # single child: hand the variances down
                    passed[members] = want
                else:
                    own[g] = want
                    passed[members] = 0.0
            scales.append(own)
        carried = carried + passed
    else:
        for lev in range(L):
            own = np.zeros((n_groups[lev], L + 1))
            for g in range(n_groups[lev]):
                members = np.flatnonzero(level_index[lev] == g)
                if len(members) == 1:
                    carried[members[0], lev] = 1.0
                elif len(members) > 1:
                    own[g, lev] = 1.0
            scales.append(own)
    return scales, carried


def identified_levels(levels: list[str], level_groups: list[list[str]], level_index: list[np.ndarray],
                      condition_x: np.ndarray) -> tuple[list[str], list[list[str]], list[np.ndarray], list]:
    """Drop hierarchy levels whose group effects the fixed part of the model already spans.

    A level's effects are identified only if its groups cannot be written as the population mean plus condition
    effects: a single group overall (e.g. a subset of one base model) is a second intercept, and two fine-tune
    groups under one base model with a categorical fine-tune effect repeat that effect. Left in, its sd is fixed by
    its prior alone and the sampler crawls along the ridge (R-hat 1.13, bulk ESS 15 on the eight Qwen-Coder
    checkpoints). Returns the kept levels, their groups and indices, and ``(level, n_groups)`` of those dropped.
    """
    base = np.column_stack([np.ones(len(condition_x)), condition_x])
    rank = np.linalg.matrix_rank(base)
    kept, dropped = [], []
    for lev, groups, idx in zip(levels, level_groups, level_index):
        onehot = np.eye(len(groups))[idx]
        if np.linalg.matrix_rank(np.column_stack([base, onehot])) == rank:
            dropped.append((lev, len(groups)))
        else:
            kept.append((lev, groups, idx))
    return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept], dropped


def condition_level_identified(n_conditions: int, condition_x: np.ndarray | None) -> bool:
    """Whether the conditions' own deviations are identified: not when the population mean and the condition
    effects span every condition already (one condition; or one fine-tune effect per condition, as in a design of
    three fine-tunes with ``reference = "none"``). Left in, ``sigma_condition`` is fixed by its prior alone and a
    centred condition level is a funnel (15-100 divergences on the backdoor design, by seed).

    >>> condition_level_identified(3, np.eye(3)), condition_level_identified(3, np.zeros((3, 0)))
    (False, True)
    >>> condition_level_identified(1, np.zeros((1, 0)))
    False
    """
    x = np.zeros((n_conditions, 0)) if condition_x is None else np.asarray(condition_x, float)
    return int(np.linalg.matrix_rank(np.column_stack([np.ones(n_conditions), x]))) < n_conditions


def level_groups(per_condition, levels: list[str], structure: str, conditions: list[str]
                 ) -> tuple[list[list[str]], list[np.ndarray]]:
    """Group labels per level (nested groups are paths ``"a/b"``) and each condition's group index per level;
    ``per_condition`` is a frame indexed by condition with the level columns."""
    groups_out, index_out = [], []
    for i, lev in enumerate(levels):
        if structure == "nested":
            lab = per_condition[levels[: i + 1]].astype(str).agg("/".join, axis=1)
        else:
            lab = per_condition[lev].astype(str)
        lab = lab.reindex(conditions)
        groups = sorted(lab.unique().tolist())
        groups_out.append(groups)
        index_out.append(np.array([groups.index(v) for v in lab], dtype=np.int64))
    return groups_out, index_out


def free_groups(level_groups_: list[list[str]], level_scale: list[np.ndarray]) -> list[list[str]]:
    """Per level, the groups with an effect of their own (single-child groups hand theirs down)."""
    return [[g for g, row in zip(groups, scale) if row.any()] for groups, scale in zip(level_groups_, level_scale)]


def free_group_index(level_index: np.ndarray, level_scale: np.ndarray) -> np.ndarray:
    """(C,) index of each condition's group among the level's free groups (-1: a handed-down one)."""
    free = level_scale.any(1)
    pos = np.cumsum(free) - 1
    return np.where(free[level_index], pos[level_index], -1)


# ------------------------------------------------------------------------------------------------- the term
@dataclass(frozen=True)
class HierarchyNames:
    """The variable names of one kind's hierarchy (``{level}`` is replaced by the level's name).

    ``mu``: the population mean; ``sigma``: each level's sd (the condition level's is ``sigma`` of ``condition``);
    ``group_centred`` / ``group_z``: a level's effects, centred or non-centred; ``beta``: condition effects;
    ``condition_centred`` / ``condition_z``: the condition level, centred or non-centred; ``part_centred`` /
    ``part_z``: its centred and non-centred elements when the parametrisation is chosen per element;
    ``condition_value``: a deterministic of the condition-level values (``None``: the kind makes its own);
    ``total`` / ``share``: the decomposed variance (a total sd and its split over the levels).
    """

    mu: str
    sigma: str
    group_centred: str
    group_z: str
    beta: str
    condition_centred: str
    condition_z: str
    part_centred: str
    part_z: str
    condition_value: str | None = None
    total: str = "sigma_total"
    share: str = "variance_share"

    def level(self, template: str, level: str) -> str:
        return template.format(level=level)


#: how the condition level is parametrised: every element centred, every element non-centred, or per element
CONDITION_FORMS = ("centred", "noncentred", "masked")


class HierarchyTerm:
    """The condition hierarchy of one parameter vector per condition, in a PyMC model.

    ``data``: the model's :class:`~simstats.graph.design.ModelData`; ``param_dim``: the dim of the parameter vector
    (``None``: one scalar per condition); ``size``: its length; ``mu_prior``: (mean, sd) arrays of the population
    mean; ``sigma``: HalfNormal scale of every level's sd; ``upper_centred``: the levels above the condition centred
    (else non-centred); ``structure``: ``nested`` | ``crossed``; ``condition_form``: one of :data:`CONDITION_FORMS`
    with ``mask`` (C, size) of the centred elements for ``masked``; ``variance``: ``independent`` | ``decomposed``;
    ``sd_floor``: smallest condition-level sd of the start.
    """

    def __init__(self, names: HierarchyNames, data, *, param_dim: str | None, size: int, mu_prior, sigma: float,
                 upper_centred: bool = False, structure: str = "nested", condition_form: str = "noncentred",
                 mask: np.ndarray | None = None, variance: str = "independent", sd_floor: float = 0.3) -> None:
        if condition_form not in CONDITION_FORMS:
            raise ValueError(f"condition_form {condition_form!r} is not one of {CONDITION_FORMS}")
        self.names, self.data, self.param_dim, self.size = names, data, param_dim, size
        self.mu_prior = (np.asarray(mu_prior[0], float), np.asarray(mu_prior[1], float))
        self.sigma, self.upper_centred, self.structure = sigma, upper_centred, structure
        self.condition_form = condition_form
        C = len(data.conditions)
        self.mask = np.ones((C, size), bool) if mask is None else np.asarray(mask, bool).reshape(C, size)
        self.decomposed = variance == "decomposed" and bool(data.levels)
        self.sd_floor = sd_floor
        # the conditions' own deviations (see condition_level_identified); kept in the decomposed form, whose
        # variance shares need every level
        self.condition_free = bool(getattr(data, "condition_level", True)) or self.decomposed

    # -------------------------------------------------------------- helpers
    @property
    def level_names(self) -> list[str]:
        return [*self.data.levels, CONDITION]

    def _dims(self, first: str | None):
        return tuple(d for d in (first, self.param_dim) if d is not None) or None

    def _rv(self, dist, name: str, first: str | None, n: int | None, **kw):
        """An RV of shape (n, size) — or (n,) / (size,) / () when a dim is absent — returned as (n or 1, size)."""
        dims = self._dims(first)
        if self.param_dim is None and first is not None:       # (n, 1) means and sds -> (n,)
            kw = {k: (v[:, 0] if getattr(v, "ndim", 0) == 2 else v) for k, v in kw.items()}
        rv = dist(name, dims=dims, **kw) if dims else dist(name, **kw)
        if self.param_dim is None:
            return rv[:, None] if first is not None else rv.reshape((1, 1))
        return rv if first is not None else rv[None, :]

    # -------------------------------------------------------------- graph
    def build_upper(self):
        """The population mean, every level's sd and the effects above the condition: returns ``(mean (C, size),
        var (L + 1, size))``, the condition-level mean before condition effects and each level's variance."""
        import pymc as pm
        import pytensor.tensor as pt

        d, n = self.data, self.names
        C, P = len(d.conditions), self.size
        scalar = self.param_dim is None
        mu = self._rv(pm.Normal, n.mu, None, None, mu=float(self.mu_prior[0].ravel()[0]) if scalar else self.mu_prior[0],
                      sigma=float(self.mu_prior[1].ravel()[0]) if scalar else self.mu_prior[1])
        mean = pt.broadcast_to(mu, (C, P))
        if self.decomposed:
            # total sd per parameter, its variance shared out over the levels (same expected total variance)
            L1 = len(d.levels) + 1
            tau = pm.HalfNormal(n.total, self.sigma * np.sqrt(L1), dims=self.param_dim)
            phi = pm.Dirichlet(n.share, a=np.ones((P, L1)), dims=(self.param_dim, LEVEL))
            var = (tau[:, None] ** 2 * phi).T                                # (L + 1, P)
            for i, lev in enumerate(self.level_names):
                pm.Deterministic(n.level(n.sigma, lev), pt.sqrt(var[i]), dims=self.param_dim)
        else:
            sig = [self._rv(pm.HalfNormal, n.level(n.sigma, lev), None, None, sigma=self.sigma)[0]
                   for lev in d.levels]
            cond_sd = n.level(n.sigma, CONDITION)
            if self.condition_free:
                sig.append(self._rv(pm.HalfNormal, cond_sd, None, None, sigma=self.sigma)[0])
            else:                                   # not identified: a constant 0 under the same name
                zero = pm.Deterministic(cond_sd, pt.zeros(P) if self.param_dim else pt.zeros(()),
                                        **({"dims": self.param_dim} if self.param_dim else {}))
                sig.append(zero if self.param_dim else zero.reshape((1,)))
            var = pt.stack(sig) ** 2                                        # (L + 1, P)
        for i, lev in enumerate(d.levels):
            idx = d.free_group_index(i)
            free = np.flatnonzero(d.level_scale[i].any(1))
            if len(free) == 0:
                continue
            sd_g = pt.sqrt(pt.dot(pt.as_tensor(d.level_scale[i][free]), var))      # (free groups, P)
            member = (idx >= 0)[:, None]
            at = np.maximum(idx, 0)
            if self.upper_centred and self.structure == "nested":    # eta_g ~ Normal(parent, sd_g)
                first = np.array([np.flatnonzero(idx == j)[0] for j in range(len(free))])   # a member condition
                eg = self._rv(pm.Normal, n.level(n.group_centred, lev), lev, len(free), mu=mean[first], sigma=sd_g)
                mean = pt.where(member, eg[at], mean)
            elif self.upper_centred:                    # crossed: additive offsets ~ Normal(0, sd_g)
                eg = self._rv(pm.Normal, n.level(n.group_centred, lev), lev, len(free), mu=0.0, sigma=sd_g)
                mean = mean + pt.where(member, eg[at], 0.0)
            else:                                       # eta_g = parent + sd_g * z_g
                z = self._rv(pm.Normal, n.level(n.group_z, lev), lev, len(free), mu=0.0, sigma=1.0)
                mean = mean + pt.where(member, (sd_g * z)[at], 0.0)
        return mean, var

    def build_condition(self, mean, var):
        """The condition level around ``mean`` (C, size): returns the condition values (C, size)."""
        import pymc as pm
        import pytensor.tensor as pt

        d, n = self.data, self.names
        C, P = len(d.conditions), self.size
        if not self.condition_free:                    # every condition at its group's value and effects
            return self._value(mean)
        sd_c = pt.sqrt(pt.dot(pt.as_tensor(d.condition_scale), var))      # (C, P)
        if self.condition_form == "centred":          # data-rich conditions: centred on their group's mean
            return self._rv(pm.Normal, n.condition_centred, CONDITION, C, mu=mean, sigma=sd_c)
        if self.condition_form == "noncentred":
            z = self._rv(pm.Normal, n.condition_z, CONDITION, C, mu=0.0, sigma=1.0)
            return self._value(mean + sd_c * z)
        mask = self.mask.ravel()                       # centred where the data pin the value, else non-centred
        ic, inc = np.flatnonzero(mask), np.flatnonzero(~mask)
        m_flat, s_flat = mean.reshape((-1,)), sd_c.reshape((-1,))
        flat = pt.zeros(C * P)
        if len(ic):
            ec = pm.Normal(n.part_centred, m_flat[ic], s_flat[ic], shape=len(ic))
            flat = pt.set_subtensor(flat[ic], ec)
        if len(inc):
            zc = pm.Normal(n.part_z, 0.0, 1.0, shape=len(inc))
            flat = pt.set_subtensor(flat[inc], m_flat[inc] + s_flat[inc] * zc)
        return self._value(flat.reshape((C, P)))

    def _squeeze(self, x):
        return x if self.param_dim is not None else x[:, 0]

    def _value(self, theta):
        """The condition values, kept as a deterministic when the names ask for one."""
        import pymc as pm

        if self.names.condition_value is None:
            return theta
        dims = self._dims(CONDITION)
        det = pm.Deterministic(self.names.condition_value, self._squeeze(theta), dims=dims)
        return det if self.param_dim is not None else det[:, None]

    # -------------------------------------------------------------- start values
    def start(self, full: np.ndarray, effects: np.ndarray | None = None) -> tuple[dict[str, np.ndarray],
                                                                                  dict[str, str]]:
        """Start values reproducing the condition values ``full`` (C, size), of which ``effects`` (C, size) is the
        part the condition effects explain; and the jitter rule of each variable (``log`` for sds, ``none`` for the
        variance shares). Upper-level effects start at 0 (non-centred) or at their groups' means (centred)."""
        d, n = self.data, self.names
        full = np.asarray(full, float)
        resid = full - (0.0 if effects is None else effects)
        mu = resid.mean(0)
        sd = np.maximum(resid.std(0), self.sd_floor)
        init: dict[str, np.ndarray] = {n.mu: self._out(mu, None)}
        jitter = {n.level(n.sigma, lev): "log" for lev in self.level_names}
        for i, (lev, groups) in enumerate(zip(d.levels, d.free_groups)):
            init[n.level(n.sigma, lev)] = self._out(np.full(len(mu), 0.3), None)
            if not groups:
                continue
            if self.upper_centred:                     # each free group at the mean of its conditions
                idx = d.free_group_index(i)
                means = np.stack([resid[idx == j].mean(0) for j in range(len(groups))])
                init[n.level(n.group_centred, lev)] = self._out(means if self.structure == "nested" else means - mu,
                                                                "g")
            else:
                init[n.level(n.group_z, lev)] = self._out(np.zeros((len(groups), len(mu))), "g")
        if not self.condition_free:
            del jitter[n.level(n.sigma, CONDITION)]
            return init, jitter
        init[n.level(n.sigma, CONDITION)] = self._out(sd, None)
        var = np.stack([np.full(len(mu), 0.09)] * len(d.levels) + [sd ** 2])     # (L + 1, P)
        z = (resid - mu) / np.sqrt(d.condition_scale @ var)
        if self.condition_form == "centred":
            init[n.condition_centred] = self._out(full, "g")
        elif self.condition_form == "noncentred":
            init[n.condition_z] = self._out(z, "g")
        else:
            if self.mask.any():
                init[n.part_centred] = full[self.mask]          # row-major, as the model's flat index
            if (~self.mask).any():
                init[n.part_z] = z[~self.mask]
        if self.decomposed:                             # the same sds as a total and its shares
            for lev in self.level_names:
                del init[n.level(n.sigma, lev)]
                del jitter[n.level(n.sigma, lev)]
            init[n.total] = np.sqrt(var.sum(0))
            init[n.share] = (var / var.sum(0)).T
            jitter.update({n.total: "log", n.share: "unconstrained"})
        return init, jitter

    def _out(self, x: np.ndarray, first: str | None) -> np.ndarray:
        """A start value in the RV's own shape (the scalar-parameter case drops the parameter axis)."""
        x = np.asarray(x, float)
        if self.param_dim is not None:
            return x
        return x[..., 0] if first is not None else np.asarray(x.reshape(-1)[0])

    # -------------------------------------------------------------- draws
    def group_values(self, post) -> dict[str, np.ndarray]:
        """Each level's free groups' values (mean plus the effects down to that level) on draws, level -> (...,
        groups, size): the NumPy mirror of :meth:`build_upper` without condition effects. ``post`` maps variable
        names to arrays with the same leading axes (a posterior, or one prior draw)."""
        d, n = self.data, self.names
        mu = np.asarray(post[n.mu], float)
        if self.param_dim is None:
            mu = mu[..., None]
        lead = mu.shape[:-1]
        if self.decomposed:
            var = np.stack([np.asarray(post[n.level(n.sigma, lev)], float) ** 2 for lev in self.level_names], -2)
        else:
            sig = [np.asarray(post[n.level(n.sigma, lev)], float) for lev in self.level_names]
            var = np.stack([s[..., None] if self.param_dim is None else s for s in sig], -2)
        C = len(d.conditions)
        mean = np.broadcast_to(mu[..., None, :], (*lead, C, self.size)).copy()
        out = {}
        for i, lev in enumerate(d.levels):
            idx = d.free_group_index(i)
            free = np.flatnonzero(d.level_scale[i].any(1))
            if len(free) == 0:
                continue
            sd_g = np.sqrt(np.einsum("gl,...lp->...gp", d.level_scale[i][free], var))
            at, member = np.maximum(idx, 0), (idx >= 0)[:, None]
            if self.upper_centred:
                eg = np.asarray(post[n.level(n.group_centred, lev)], float)
                eg = eg[..., None] if self.param_dim is None else eg
                if self.structure == "nested":
                    mean = np.where(member, eg[..., at, :], mean)
                    value = eg
                else:
                    mean = mean + np.where(member, eg[..., at, :], 0.0)
                    value = eg
            else:
                z = np.asarray(post[n.level(n.group_z, lev)], float)
                z = z[..., None] if self.param_dim is None else z
                mean = mean + np.where(member, (sd_g * z)[..., at, :], 0.0)
                first = np.array([np.flatnonzero(idx == j)[0] for j in range(len(free))])
                value = mean[..., first, :] if self.structure == "nested" else sd_g * z
            out[lev] = value
        return out


__all__ = ["CONDITION_FORMS", "HierarchyNames", "HierarchyTerm", "collapse_single_child_groups",
           "condition_level_identified", "free_group_index", "free_groups", "identified_levels", "level_groups"]
