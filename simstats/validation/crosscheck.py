"""Frequentist cross-check of the persona model's likelihood: posterior means against a maximum-likelihood latent
class fit of the same pattern counts by StepMix (optional extra ``validation``).

The persona model and StepMix's latent class model with a covariate structural model have the same likelihood::

    log L = sum_patterns count * log sum_k softmax(beta_k . x(cell))_k * prod_m fp_m[k, y_m]

- Measurement model: StepMix ``measurement="categorical"`` on exactly the categories the persona model sees
  (``fit_output.data.pattern_cat``: category 0 = no score, b + 1 = bin b; the verdict too when the log has one),
  with free probabilities per class: the persona model's ``categorical`` fingerprint family without its Dirichlet
  prior. A ``binned_beta`` measure has a parametric fingerprint, a different likelihood, and is refused.
- Structural model: ``structural="covariate"``, a multinomial logit of the class on an intercept and one-hot
  condition, prompt and prompt-feature columns (first level of each left out). Its logits span exactly the persona
  model's ``eta[c] + x(q) . gamma + u[q]`` (a free log-odds vector per condition, a zero-sum question effect and
  feature coefficients; the hierarchy and condition-level effects only shape the prior of ``eta``, they add nothing
  to the likelihood). StepMix uses the conditional likelihood of the class given the covariates (Bakk & Kuha), as
  the persona model does. Plain per-condition class proportions would be a different likelihood as soon as prompts
  or features shift the persona log-odds, which the persona model lets them do.

Sample weights. The pattern table goes in as it is, with ``count`` as StepMix's ``sample_weight``. StepMix 3.0
weights the categorical measurement model correctly, but its covariate M-step does not: it passes
``resp * sample_weight`` to the Newton step, whose gradient ``X'(p - resp * w)`` and Hessian leave the weights off
the predicted probabilities, so with counts > 1 the coefficients run off to +-1e100. :func:`stepmix_mle` therefore
gives StepMix a covariate model whose only change is a weighted Newton step (``X'(w p - resp * w)``, Hessian
weighted by ``w``; ``w`` is recovered as the row sums of ``resp * w``); the E-step, the measurement M-step, the EM
loop and the likelihood are StepMix's own. The tests check that its Newton step equals the stock step on the
rows expanded by their counts.

Starts: StepMix's k-means starts (``init_params="kmeans"``). Its default random responsibilities start every class
near the overall mean; on a simulated log of 105,600 answers four such starts all ended in one local optimum (two
personas merged, another split), about 5,600 log-likelihood units below the truth, where k-means starts found the
maximum.

Standard errors: StepMix computes none (only a bootstrap), and its bootstrap resamples rows of the table it is
given, i.e. patterns, not answers. ``n_boot > 0`` runs the answer-level bootstrap instead: each replicate redraws
every cell's answers (multinomial over that cell's patterns, so the design the likelihood conditions on is kept),
refits, and aligns the classes; the SE is the replicates' sd.

Why the posterior mean and the MLE should agree: with a large sample the posterior mean differs from the MLE by
O(1/n) (the prior's pull and second-order terms) while the posterior sd is O(1/sqrt(n)), so the difference in
posterior sds is O(1/sqrt(n)), plus the Monte-Carlo error of the posterior mean (``mcse``). The leading O(1/n) term
is known: the fingerprints' Dirichlet(1 + strength * anchor) prior adds ``sum(alpha)`` pseudo-answers (21 for 10 bins
at strength 10) to a persona's expected count ``n_k``. Fingerprints are sharp (a persona's scores spread over a few
bins) while one pseudo-answer sits in every bin, so the pull of the mean score is large for its O(1/n):
``prior_shift`` is the conjugate prediction ``g((n_k p_mle + alpha) / (n_k + sum alpha)) - g(p_mle)``, and
``(difference - prior_shift) / posterior_sd`` what is left to explain.

Where that argument fails: a bin that is empty at the MLE (a persona's far bins, with sharp fingerprints) is on the
boundary of the parameter space. The posterior keeps mass there, at least the prior's pseudo-answer and more where
another persona's answers are near (the likelihood barely changes when a few of them are attributed to this
persona), so a persona's mean score moves towards the middle of the scale by O(posterior sd), whatever n. On the
102,400-answer log of ``scripts/stepmix_crosscheck.py`` every share agreed within 0.6 posterior sd and every no-score
rate within 1.1, while the mean aligned score of the smallest persona (misaligned, about 4.6% of the answers)
differed by 2.5 posterior sd (posterior 13.0, MLE 12.0, truth 11.9; bootstrap SE of the MLE 0.38, posterior sd
0.41).

>>> from simstats.spec import load_spec                                        # doctest: +SKIP
>>> from simstats.validation import simulate_log                                # doctest: +SKIP
>>> from simstats.inference import fit                                         # doctest: +SKIP
>>> spec = load_spec("models/persona_mixture.toml")                            # doctest: +SKIP
>>> pats, truth = simulate_log(spec, n_conditions=4, answers_per_cell=400, seed=0)  # doctest: +SKIP
>>> out = fit(spec, pats, chains=2, draws=300, tune=300, seed=0)               # doctest: +SKIP
>>> table = stepmix_crosscheck(spec, pats, out, truth=truth)                   # doctest: +SKIP
>>> agreement(table)              # per kind: quantities within 3 posterior sds, largest |z|   # doctest: +SKIP
>>> table.attrs["loglik_model_at_mle"] - table.attrs["loglik_stepmix"]     # the same likelihood  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simstats.graph.design import ModelData, model_data
from simstats.kinds.mixture import KIND as MIXTURE
from simstats.kinds.mixture.tables import condition_shares
from simstats.logs.patterns import Patterns
from simstats.spec import ModelSpec

COLUMNS = ["quantity", "kind", "persona", "of", "posterior_mean", "posterior_sd", "mcse", "rhat", "mle", "mle_se",
           "difference", "z", "prior_shift", "z_after_shift"]


def _stepmix():
    """The StepMix class and the weighted covariate model (built on first use: StepMix is an optional extra)."""
    try:
        from stepmix.emission.covariate import Covariate
        from stepmix.stepmix import StepMix
    except ImportError as e:   # pragma: no cover - depends on the environment
        raise ImportError("the StepMix cross-check needs the optional dependency 'stepmix': "
                          "pip install 'simstats[validation]'") from e

    class WeightedCovariate(Covariate):
        """StepMix's covariate model with the sample weights in its Newton step (see the module docstring)."""

        def m_step(self, X, resp):
            Xf = self.get_full_matrix(X)
            D = Xf.shape[1]
            K = resp.shape[1]
            w = resp.sum(1)                      # resp arrives multiplied by the sample weights; rows summed to 1
            for _ in range(self.max_iter):
                p = self._forward(Xf)
                G = Xf.T @ (w[:, None] * p - resp)
                if np.max(np.abs(G)) < self.tol:
                    break
                H = np.zeros((D, K, D, K))
                for i in range(K):
                    for j in range(K):
                        H[:, i, :, j] = (Xf.T * (w * p[:, i] * ((i == j) - p[:, j]))) @ Xf
                step = np.linalg.pinv(H.reshape(D * K, D * K)) @ G.reshape(-1)
                self.parameters["beta"] = (self.parameters["beta"].T.reshape(-1) - step).reshape(D, K).T

    return StepMix, WeightedCovariate


# ------------------------------------------------------------------------------------------------ the StepMix fit
def covariate_design(spec: ModelSpec, data: ModelData) -> tuple[list[str], np.ndarray]:
    """Names and (n_cells, D) 0/1 matrix of the covariates (intercept left to StepMix): condition, prompt and
    prompt-feature dummies, the first level of each left out. Prompts enter only when the spec has a question
    effect and the data more than one prompt (as in :func:`simstats.kinds.mixture.graph.build`)."""
    names, cols = [], []
    for c in range(1, len(data.conditions)):
        names.append(f"condition[{data.conditions[c]}]")
        cols.append((data.cell_condition == c).astype(float))
    if spec.prompt.question_effect != "none" and len(data.prompts) > 1:
        for q in range(1, len(data.prompts)):
            names.append(f"prompt[{data.prompts[q]}]")
            cols.append((data.cell_prompt == q).astype(float))
    names += list(data.coefs)
    cols += [data.cell_x[:, j].astype(float) for j in range(data.cell_x.shape[1])]
    n = len(data.cell_condition)
    return names, (np.stack(cols, axis=1) if cols else np.zeros((n, 0)))


def _measurements(data: ModelData) -> tuple[list[str], np.ndarray, list[int]]:
    names = list(data.pattern_cat)
    cols = [data.pattern_cat[m] for m in names]
    ncat = [len(data.coords[f"{m}_bin"]) for m in names]
    if data.pattern_verdict is not None:
        names.append("verdict")
        cols.append(data.pattern_verdict)
        ncat.append(len(data.verdict_levels))
    return names, np.stack(cols, axis=1).astype(np.int64), ncat


@dataclass
class LatentClassMLE:
    """StepMix's maximum-likelihood fit, classes already in the persona model's order."""

    fingerprints: dict[str, np.ndarray]   # measure (or "verdict") -> (K, categories)
    beta: np.ndarray                      # (K, 1 + D): intercept then the covariate_design columns
    covariates: list[str]
    persona_counts: np.ndarray            # (K,) expected answers per persona
    loglik: float                         # StepMix's log-likelihood, summed over answers
    init_logliks: list[float]             # one per start
    converged: bool
    n_iter: int
    n_parameters: int                     # free parameters of the likelihood
    order: np.ndarray                     # persona k = StepMix class order[k]
    notes: list[str] = field(default_factory=list)

    def as_posterior(self, data: ModelData) -> dict[str, np.ndarray]:
        """The MLE as a one-draw posterior (``eta``, ``u``, ``gamma``, ``fp_*`` with chain and draw axes of length
        1), so the persona model's own functions (:meth:`~simstats.kinds.base.ModelKind.pattern_log_likelihood`,
        :func:`~simstats.kinds.mixture.tables.condition_shares`) evaluate it."""
        b = self.beta                                              # (K, 1 + D)
        C = len(data.conditions)
        eta = np.repeat(b[None, :, 0], C, axis=0)                  # (C, K)
        col = {n: i + 1 for i, n in enumerate(self.covariates)}
        for c in range(1, C):
            eta[c] += b[:, col[f"condition[{data.conditions[c]}]"]]
        post = {"eta": eta}
        if f"prompt[{data.prompts[-1]}]" in col and len(data.prompts) > 1:
            post["u"] = np.stack([np.zeros(b.shape[0])] + [b[:, col[f"prompt[{q}]"]] for q in data.prompts[1:]])
        if data.coefs:
            post["gamma"] = np.stack([b[:, col[c]] for c in data.coefs])
        for m, fp in self.fingerprints.items():
            post[f"fp_{m}"] = fp
        return {k: v[None, None] for k, v in post.items()}


def stepmix_mle(spec: ModelSpec, data: ModelData, *, reference: dict[str, np.ndarray] | None = None,
                counts: np.ndarray | None = None, n_init: int = 3, seed: int = 0, max_iter: int = 10000,
                abs_tol: float = 1e-10) -> LatentClassMLE:
    """Fit StepMix's latent class model with the persona model's likelihood to ``data`` (a :class:`ModelData`).

    ``reference`` (measure -> (K, categories)) are the fingerprints whose persona order the classes take (Hungarian
    matching on the L1 distance of the concatenated fingerprints; default: the spec's anchors). ``counts`` replaces
    the pattern counts (bootstrap). ``abs_tol`` is StepMix's tolerance on the change of the average log-likelihood
    per answer; ``n_init`` k-means starts, the best kept.

    >>> from simstats.graph.design import model_data                              # doctest: +SKIP
    >>> mle = stepmix_mle(spec, model_data(spec, pats))                          # doctest: +SKIP
    >>> mle.fingerprints["aligned"].shape, mle.converged                         # doctest: +SKIP
    ((4, 11), True)
    """
    from scipy.optimize import linear_sum_assignment

    from simstats.kinds.mixture.start import anchor_tables

    StepMix, WeightedCovariate = _stepmix()
    bad = [ms.name for ms in spec.measures if ms.likelihood != "categorical"]
    if bad:
        raise ValueError(f"measures {bad} use a parametric fingerprint family; StepMix's categorical measurement "
                         "model is the 'categorical' family only, so the likelihoods would differ")
    if data.pattern_verdict is not None and spec.verdict_likelihood != "categorical":
        raise ValueError("the verdict likelihood is not categorical")
    K = len(data.personas)
    names, X, ncat = _measurements(data)
    cov_names, design = covariate_design(spec, data)
    Y = design[data.pattern_cell]
    w = (data.count if counts is None else counts).astype(float)
    keep = w > 0
    est = StepMix(n_components=K, measurement="categorical", structural="covariate", n_steps=1, n_init=n_init,
                  init_params="kmeans", max_iter=max_iter, abs_tol=abs_tol, rel_tol=0.0, random_state=seed,
                  progress_bar=0, verbose=0,
                  measurement_params={"max_n_outcomes": max(ncat), "total_outcomes": int(sum(ncat))})
    est._sm = WeightedCovariate(n_components=K, random_state=seed)   # used by StepMix instead of building its own
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X[keep], Y[keep], sample_weight=w[keep])
    notes = [str(c.message) for c in caught if "converge" in str(c.message).lower()]
    if not est.converged_:
        warnings.warn(f"StepMix's EM stopped after max_iter={max_iter} iterations without meeting abs_tol={abs_tol}",
                      RuntimeWarning, stacklevel=2)
    pis = est._mm.parameters["pis"].reshape(K, len(names), max(ncat))
    fps = {}
    for j, (m, nc) in enumerate(zip(names, ncat)):
        p = pis[:, j, :nc]
        fps[m] = p / p.sum(1, keepdims=True)
    ref = reference if reference is not None else {k[3:]: v for k, v in anchor_tables(spec, data).items()}
    common = [m for m in names if m in ref]
    cost = sum(np.abs(fps[m][:, None, :] - ref[m][None, :, :]).sum(-1) for m in common)   # (class, persona)
    rows, cols = linear_sum_assignment(cost)
    order = rows[np.argsort(cols)]
    resp = est.predict_proba(X, Y)
    n_par = K * sum(nc - 1 for nc in ncat) + (K - 1) * (1 + design.shape[1])
    return LatentClassMLE(
        fingerprints={m: fp[order] for m, fp in fps.items()}, beta=est._sm.parameters["beta"][order],
        covariates=cov_names, persona_counts=(resp * w[:, None]).sum(0)[order],
        loglik=float(est.score(X[keep], Y[keep], sample_weight=w[keep]) * w.sum()),
        init_logliks=[float(v) * float(w.sum()) for v in est.lower_bound_buffer_], converged=bool(est.converged_),
        n_iter=int(est.n_iter_), n_parameters=int(n_par), order=order, notes=notes)


# ------------------------------------------------------------------------------------------------ the quantities
def _quantities(fps: dict[str, np.ndarray], shares: np.ndarray, data: ModelData) -> list[tuple]:
    """(kind, persona, of, values) for every compared quantity; ``values`` keep the leading (draw) axes."""
    out = []
    for m in data.pattern_cat:
        fp = fps[m]                                                     # (..., K, 1 + bins)
        centres = data.patterns.grids[m].centres
        mean = (fp[..., 1:] @ centres) / np.clip(1.0 - fp[..., 0], 1e-300, None)
        for k, p in enumerate(data.personas):
            out.append(("mean_score", p, m, mean[..., k]))
        for k, p in enumerate(data.personas):
            out.append(("no_score", p, m, fp[..., k, 0]))
    for c, cond in enumerate(data.conditions):
        for k, p in enumerate(data.personas):
            out.append(("share", p, cond, shares[..., c, k]))
    return out


def _label(kind: str, persona: str, of: str) -> str:
    return {"mean_score": f"mean {of} score ({persona})", "no_score": f"no-{of}-score rate ({persona})",
            "share": f"share in {of} ({persona})"}[kind]


def _prior_shift(spec: ModelSpec, data: ModelData, mle: LatentClassMLE) -> dict[tuple, float]:
    """The conjugate prediction of the fingerprint prior's pull on each fingerprint quantity (see module doc)."""
    from simstats.families.fingerprints import anchor_table

    shifted = {}
    for ms in spec.measures:
        alpha = 1.0 + spec.anchor_strength * anchor_table(data.patterns.grids[ms.name],
                                                            [p.anchors[ms.name] for p in spec.personas])
        n = mle.persona_counts[:, None]
        p = mle.fingerprints[ms.name]
        shifted[ms.name] = (n * p + alpha) / (n + alpha.sum(1, keepdims=True))
    zero = np.zeros((len(data.conditions), len(data.personas)))
    after = {(k, p, o): v for k, p, o, v in _quantities(shifted, zero, data) if k != "share"}
    before = {(k, p, o): v for k, p, o, v in _quantities(mle.fingerprints, zero, data) if k != "share"}
    return {key: float(after[key] - before[key]) for key in after}


def _thin(posterior, names: list[str], max_draws: int) -> dict[str, np.ndarray]:
    arrs = {n: np.asarray(posterior[n]) for n in names if n in posterior}
    ch, dr = next(iter(arrs.values())).shape[:2]
    step = max(1, int(np.ceil(ch * dr / max_draws)))
    return {n: a[:, ::step] for n, a in arrs.items()}


def loglik_check(spec: ModelSpec, data: ModelData, posterior, mle: LatentClassMLE,
                 max_draws: int = 400) -> dict[str, float]:
    """The likelihoods compared directly.

    - ``loglik_stepmix``: StepMix's log-likelihood at its MLE; ``loglik_model_at_mle``: the persona model's own
      :meth:`~simstats.kinds.base.ModelKind.pattern_log_likelihood` at the same parameters. Equal (to StepMix's 1e-15 clipping)
      when the two programs implement the same likelihood.
    - ``loglik_draws_max`` / ``loglik_draws_mean``: the persona model's log-likelihood over (up to ``max_draws``)
      posterior draws. None should exceed the MLE's; with a flat-ish prior, ``2 (loglik_mle - loglik(draw))`` is
      about chi-square with ``n_parameters`` degrees of freedom, so the mean deficit is about ``n_parameters / 2``
      (a little more: the prior pulls, and the empty bins of a sharp fingerprint sit on the boundary).
    """
    names = ["eta", "gamma", "u", *(f"fp_{m}" for m in _measurements(data)[0])]
    draws = _thin(posterior, names, max_draws)
    ll_draws = (MIXTURE.pattern_log_likelihood(draws, spec, data) * data.count).sum(-1).reshape(-1)
    at_mle = float((MIXTURE.pattern_log_likelihood(mle.as_posterior(data), spec, data) * data.count).sum())
    return {"loglik_stepmix": mle.loglik, "loglik_model_at_mle": at_mle,
            "loglik_draws_max": float(ll_draws.max()), "loglik_draws_mean": float(ll_draws.mean()),
            "mean_deficit": float(mle.loglik - ll_draws.mean()), "n_parameters": float(mle.n_parameters),
            "n_draws": float(ll_draws.size)}


def _bootstrap(spec, data, mle, n_boot, seed) -> np.ndarray:
    """(n_boot, n_quantities) answer-level bootstrap of the MLE quantities, each cell's answers redrawn."""
    rng = np.random.default_rng(seed)
    groups = pd.Series(np.arange(len(data.count))).groupby(data.pattern_cell).indices
    reps = []
    for b in range(n_boot):
        counts = np.zeros_like(data.count)
        for cell, idx in groups.items():
            n = int(data.count[idx].sum())
            counts[idx] = rng.multinomial(n, data.count[idx] / n)
        rep = stepmix_mle(spec, data, reference=mle.fingerprints, counts=counts, n_init=1, seed=seed + 1 + b)
        post = rep.as_posterior(data)
        sh = condition_shares(post, data)[0, 0]
        reps.append([v for *_, v in _quantities({m: f[0, 0] for m, f in _fps(post).items()}, sh, data)])
    return np.asarray(reps, float)


def _fps(post: dict) -> dict[str, np.ndarray]:
    return {k[3:]: v for k, v in post.items() if k.startswith("fp_")}


def stepmix_crosscheck(spec: ModelSpec, patterns: Patterns, fit_output, *, n_init: int = 3, n_boot: int = 0,
                       seed: int = 0, truth=None, max_iter: int = 10000, abs_tol: float = 1e-10) -> pd.DataFrame:
    """Compare the posterior of ``fit_output`` (a :class:`~simstats.inference.FitOutput` of ``spec`` on
    ``patterns``) with StepMix's maximum-likelihood fit of the same pattern counts.

    One row per quantity: the mean score (over bin centres, given a score) and the no-score rate of every persona
    and measure, and every persona's share of every condition (over the condition's own prompt mix, as
    :func:`~simstats.kinds.mixture.tables.condition_shares`). Columns: ``quantity`` (a label), ``kind`` / ``persona`` / ``of``
    (measure or condition), ``posterior_mean``, ``posterior_sd``, ``mcse`` (Monte-Carlo SE of the posterior mean),
    ``rhat`` (of the quantity's draws),
    ``mle``, ``mle_se`` (answer-level bootstrap SE with ``n_boot`` replicates; NaN when ``n_boot=0``: StepMix
    has no standard errors of its own), ``difference`` (posterior mean - MLE), ``z`` (difference / posterior sd),
    ``prior_shift`` (the fingerprint prior's predicted part of the difference; NaN for shares) and
    ``z_after_shift`` ((difference - prior_shift) / posterior sd), plus ``truth`` when a simulation's
    :class:`~simstats.simulate.Truth` is given. StepMix's classes get the persona labels by Hungarian matching of
    their fingerprints with the posterior-mean fingerprints.

    ``table.attrs`` holds the fit facts: :func:`loglik_check`'s numbers, the StepMix log-likelihood of every start,
    convergence, iterations, answers, patterns, covariates.

    >>> table = stepmix_crosscheck(spec, pats, out, n_boot=20)                 # doctest: +SKIP
    >>> table.loc[table.kind == "share", ["quantity", "posterior_mean", "mle", "z"]].head(4)   # doctest: +SKIP
    """
    import arviz_stats as azs

    data: ModelData = fit_output.data
    if model_data(spec, patterns).patterns.data_hash() != data.patterns.data_hash():
        raise ValueError("the patterns are not the ones the fit saw (their hashes differ)")
    post = fit_output.idata.posterior
    fp_post = {m: np.asarray(post[f"fp_{m}"]) for m in data.pattern_cat}
    ref = {m: v.mean((0, 1)) for m, v in fp_post.items()}
    mle = stepmix_mle(spec, data, reference=ref, n_init=n_init, seed=seed, max_iter=max_iter, abs_tol=abs_tol)
    mle_post = mle.as_posterior(data)
    q_post = _quantities(fp_post, condition_shares(post, data), data)
    q_mle = _quantities({m: f[0, 0] for m, f in _fps(mle_post).items()}, condition_shares(mle_post, data)[0, 0],
                        data)
    shift = _prior_shift(spec, data, mle)
    se = np.full(len(q_post), np.nan)
    if n_boot:
        se = _bootstrap(spec, data, mle, n_boot, seed).std(0, ddof=1)
    rows = []
    for i, ((kind, p, of, draws), (*_, v)) in enumerate(zip(q_post, q_mle)):
        mean, sd = float(draws.mean()), float(draws.std())
        d = mean - float(v)
        s = shift.get((kind, p, of), np.nan)
        rows.append({"quantity": _label(kind, p, of), "kind": kind, "persona": p, "of": of, "posterior_mean": mean,
                     "posterior_sd": sd, "mcse": float(azs.mcse(draws)), "rhat": float(azs.rhat(draws)),
                     "mle": float(v), "mle_se": float(se[i]), "difference": d, "z": d / sd, "prior_shift": s,
                     "z_after_shift": (d - s) / sd})
    table = pd.DataFrame(rows, columns=COLUMNS)
    if truth is not None:
        table["truth"] = _truth_values(truth, data)
    table.attrs.update(loglik_check(spec, data, post, mle))
    table.attrs.update({"init_logliks": mle.init_logliks, "converged": mle.converged, "n_iter": mle.n_iter,
                        "n_answers": int(data.count.sum()), "n_patterns": len(data.count),
                        "covariates": mle.covariates, "n_boot": n_boot, "notes": mle.notes})
    return table


def _truth_values(truth, data: ModelData) -> np.ndarray:
    """The simulation's true value of every quantity, in the table's order."""
    fps = {}
    for m in data.pattern_cat:
        f = truth.fingerprints[m]
        nb = len(data.coords[f"{m}_bin"]) - 1
        if f.shape[1] - 1 != nb:                                  # the spec coarsened the simulated grid
            f = np.concatenate([f[:, :1], f[:, 1:].reshape(f.shape[0], nb, -1).sum(-1)], axis=1)
        fps[m] = f
    names = truth.cells.groupby("_c")["condition"].first().astype(str)
    sh = pd.DataFrame(truth.condition_shares(), index=names.to_numpy()).reindex(data.conditions).to_numpy()
    return np.array([float(v) for *_, v in _quantities(fps, sh, data)])


def agreement(table: pd.DataFrame, k: float = 3.0) -> pd.DataFrame:
    """Per kind of quantity: how many rows have ``|posterior mean - MLE| <= k posterior sd``, and the largest
    ``|z|`` and ``|z_after_shift|``."""
    g = table.assign(ok=table["z"].abs() <= k, az=table["z"].abs(), azs=table["z_after_shift"].abs())
    out = g.groupby("kind", sort=False).agg(n=("ok", "size"), within=("ok", "sum"), max_abs_z=("az", "max"),
                                            max_abs_z_after_shift=("azs", "max"))
    out.loc["all"] = [len(g), int(g["ok"].sum()), g["az"].max(), g["azs"].max()]
    return out


__all__ = ["COLUMNS", "LatentClassMLE", "agreement", "covariate_design", "loglik_check", "stepmix_crosscheck",
           "stepmix_mle"]
