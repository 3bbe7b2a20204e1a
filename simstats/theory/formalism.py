"""The equations of the persona formalism (DESIGN.md section 2) as small pure functions over arrays.

This module is the one place where each equation is written; the models, the posterior tables and the simulator
call it (DESIGN §2 → function):

- the evidence a context carries, ``log L(c | k) - log L(c | ref) = x(c)·gamma_k + u_{q(c),k}``:
  :func:`context_evidence`, and the persona log-odds in a context ``eta_{m,k}`` plus that evidence:
  :func:`persona_logits`;
- the prompt as evidence (Bayes' rule over personas), ``P(z | m, c) ∝ pi_m(z) L(c | z)``:
  :func:`persona_log_posterior` / :func:`persona_posterior`;
- a checkpoint's persona distribution over its own mix of contexts: :func:`persona_marginal`;
- fine-tuning as evidence, ``pi_m ∝ pi_parent L(D_ft | z)^lambda``: :func:`finetune_update`;
- one persona per answer, marginalised: :func:`marginal_log_likelihood`, and the per-answer posterior over
  personas: :func:`responsibilities`;
- predicted rates of a behaviour: :func:`predicted_rates`, :func:`behaviour_rate`;
- the sharpness of a prior: :func:`persona_entropy`, :func:`persona_entropy_from_logits`.

Every function takes NumPy arrays (or anything ``numpy.asarray`` accepts), JAX arrays or PyTensor variables and
answers in the same kind: a ``jax.Array`` argument (tracers inside ``jax.jit`` / ``jax.grad`` included) makes the
work run in ``jax.numpy``, a PyTensor variable builds a PyTensor graph (the PyMC models call these functions), and
anything else runs in NumPy. Neither JAX nor PyTensor is imported here: an argument can only be one of theirs if
its caller already imported them, so importing this module stays cheap.

Conventions: the persona axis is the last one unless a function takes ``axis``; "log" is the natural log;
log-probabilities may be ``-inf`` (a persona with zero weight).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "behaviour_rate",
    "context_evidence",
    "finetune_update",
    "marginal_log_likelihood",
    "persona_entropy",
    "persona_entropy_from_logits",
    "persona_log_posterior",
    "persona_logits",
    "persona_marginal",
    "persona_posterior",
    "predicted_rates",
    "responsibilities",
    "threshold_rate",
]

Array = Any  # a NumPy or JAX array (or a nested sequence / scalar NumPy can convert)


class _PyTensorNamespace:
    """The NumPy functions this module uses, over PyTensor variables (enough of the array API for the equations)."""

    def __init__(self, pt: ModuleType) -> None:
        self.pt = pt
        self.asarray = pt.as_tensor_variable
        self.exp, self.log, self.where, self.isfinite = pt.exp, pt.log, pt.where, pt.isfinite
        self.matmul, self.squeeze = pt.matmul, pt.squeeze

    def max(self, x, axis=None, keepdims=False):
        return self.pt.max(x, axis=axis, keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        return self.pt.sum(x, axis=axis, keepdims=keepdims)


def _xp(*arrays: Any) -> Any:
    """The array namespace for ``arrays``: ``jax.numpy`` if any of them is a JAX array, a PyTensor namespace if any
    is a PyTensor variable, else NumPy."""
    jax = sys.modules.get("jax")  # not imported => nothing can be a JAX array
    if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
        return jax.numpy
    pytensor = sys.modules.get("pytensor")
    if pytensor is not None:
        from pytensor.graph.basic import Variable

        if any(isinstance(a, Variable) for a in arrays):
            import pytensor.tensor as pt

            return _PyTensorNamespace(pt)
    return np


def _shift_by_max(x: Array, axis: int, xp: ModuleType) -> tuple[Array, Array]:
    """(x - m, m) with m the max along ``axis``, so that exp(x - m) <= 1 cannot overflow."""
    m = xp.max(x, axis=axis, keepdims=True)
    # An all -inf slice has max -inf; shifting by it would give nan, so shift by 0 there.
    m = xp.where(xp.isfinite(m), m, 0.0)
    return x - m, m


def _log_sum_exp_shifted(shifted: Array, axis: int, xp: ModuleType) -> Array:
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for an all -inf slice
        return xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _logsumexp(x: Array, axis: int, xp: ModuleType) -> Array:
    """log sum exp(x) along ``axis`` (removed), stable for huge logits; -inf for an all -inf slice."""
    shifted, m = _shift_by_max(x, axis, xp)
    return xp.squeeze(_log_sum_exp_shifted(shifted, axis, xp) + m, axis=axis)


def _log_softmax(x: Array, axis: int, xp: ModuleType) -> Array:
    """x - logsumexp(x), formed from the shifted values: x - (m + log S) would round away the answer when
    |x| is so large (say 1e300) that m + log S == m in floating point."""
    shifted, _ = _shift_by_max(x, axis, xp)
    return shifted - _log_sum_exp_shifted(shifted, axis, xp)


def persona_log_posterior(log_prior: Array, log_lik_ratio: Array, axis: int = -1) -> Array:
    """Log of the persona posterior given a context: log P(z|m,c) = log pi_m(z) + log L(c|z) - log Z.

    ``log_prior`` and ``log_lik_ratio`` broadcast and need not be normalised (a constant per slice cancels).

    >>> import numpy as np
    >>> np.exp(persona_log_posterior(np.log([0.5, 0.5]), np.log([3.0, 1.0]))).round(3)
    array([0.75, 0.25])
    """
    xp = _xp(log_prior, log_lik_ratio)
    return _log_softmax(xp.asarray(log_prior) + xp.asarray(log_lik_ratio), axis, xp)


def persona_posterior(log_prior: Array, log_lik_ratio: Array, axis: int = -1) -> Array:
    """Persona posterior given a context: P(z|m,c) = pi_m(z) * L(c|z) / sum_z' pi_m(z') * L(c|z').

    Computed as a log-softmax, so it stays exact for log-odds far beyond exp's range.

    >>> import numpy as np
    >>> persona_posterior(np.log([0.2, 0.8]), np.log([4.0, 1.0])).round(3)
    array([0.5, 0.5])
    """
    xp = _xp(log_prior, log_lik_ratio)
    return xp.exp(persona_log_posterior(log_prior, log_lik_ratio, axis=axis))


def context_evidence(features: Array | None = None, gamma: Array | None = None,
                     question_effect: Array | None = None) -> Array | float:
    """The evidence a context carries for each persona, as log-likelihood ratios against the reference persona (in
    nats): log L(c|z=k) - log L(c|z=ref) = x(c) . gamma_k + u_{q(c),k}.

    ``features`` (..., F) are the context's prompt features x(c) and ``gamma`` (F, K) their per-persona effects;
    either may be a list of blocks (features and their coefficients in the same order, e.g. prompt features and
    feature x condition interactions). ``question_effect`` (..., K) is the random effect u of the context's
    question. Terms given as ``None`` are left out (no terms at all: 0).

    >>> import numpy as np
    >>> context_evidence(np.array([1.0, 0.0]), np.array([[2.0, 0.0], [5.0, 5.0]]), np.array([0.0, 1.0]))
    array([2., 1.])
    """
    blocks_x = features if isinstance(features, (list, tuple)) else [features]
    blocks_g = gamma if isinstance(gamma, (list, tuple)) else [gamma]
    out: Any = 0.0
    for x, g in zip(blocks_x, blocks_g):
        if x is not None and g is not None:
            xp = _xp(x, g)
            out = out + xp.matmul(xp.asarray(x), xp.asarray(g))
    if question_effect is not None:
        out = out + question_effect
    return out


def persona_logits(eta: Array, features: Array | None = None, gamma: Array | None = None,
                   question_effect: Array | None = None) -> Array:
    """Persona log-odds in a context: logit_k(m,c) = eta_{m,k} + x(c) . gamma_k + u_{q(c),k}, the prior log-odds of
    the checkpoint plus the evidence of the context (:func:`context_evidence`).

    Shapes broadcast: ``eta`` (..., K) prior log-odds of the checkpoint, ``features`` (..., F) the context's
    prompt features x(c), ``gamma`` (F, K) their per-persona effects, ``question_effect`` (..., K) the random
    effect u of the context's question (None: no question effect). Returns (..., K).

    >>> import numpy as np
    >>> gamma = np.array([[2.0, 0.0], [5.0, 5.0]])  # F=2 features, K=2 personas
    >>> persona_logits(np.zeros(2), np.array([1.0, 0.0]), gamma, np.array([0.0, 1.0]))
    array([2., 1.])
    """
    xp = _xp(eta, features, gamma, question_effect)
    return xp.asarray(eta) + context_evidence(features, gamma, question_effect)


def finetune_update(log_prior_parent: Array, log_lik_data: Array, evidence_weight: Array) -> Array:
    """Persona prior of a fine-tune: pi_m(z) = pi_parent(z) * L(D_ft|z)^lambda / normaliser.

    ``evidence_weight`` is lambda (>= 0, broadcastable): 0 leaves the parent unchanged, 1 is Bayes' rule.
    Returns normalised log-probabilities over the last axis.

    >>> import numpy as np
    >>> np.exp(finetune_update(np.log([0.5, 0.5]), np.log([2.0, 1.0]), 2.0)).round(3)
    array([0.8, 0.2])
    """
    xp = _xp(log_prior_parent, log_lik_data, evidence_weight)
    lam, log_lik = xp.asarray(evidence_weight), xp.asarray(log_lik_data)
    # L^0 = 1 even where L = 0 (0 * -inf would be nan). Only those entries are replaced, so that the
    # gradient in lambda at lambda = 0 stays log L (a where on the product would zero it).
    log_lik = xp.where((lam == 0) & (log_lik == -np.inf), 0.0, log_lik)
    return _log_softmax(xp.asarray(log_prior_parent) + lam * log_lik, -1, xp)


def persona_entropy(probs: Array, axis: int = -1) -> Array:
    """Shannon entropy in nats: H = -sum_k p_k log p_k, with 0 log 0 = 0.

    >>> import numpy as np
    >>> float(persona_entropy(np.array([0.5, 0.5, 0.0])).round(4))  # log 2
    0.6931
    """
    xp = _xp(probs)
    p = xp.asarray(probs)
    positive = p > 0
    # The inner where keeps log(0) (and its infinite JAX gradient) out of the discarded branch.
    plogp = xp.where(positive, p * xp.log(xp.where(positive, p, 1.0)), 0.0)
    return -xp.sum(plogp, axis=axis)


def persona_entropy_from_logits(logits: Array, axis: int = -1) -> Array:
    """Entropy in nats of softmax(logits): H = -sum_k p_k log p_k with log p = log_softmax(logits).

    Works from the log-probabilities directly, so it stays accurate where the probabilities underflow.

    >>> import numpy as np
    >>> float(persona_entropy_from_logits(np.array([1e6, 1e6])).round(4))  # log 2, no overflow
    0.6931
    """
    xp = _xp(logits)
    logp = _log_softmax(xp.asarray(logits), axis, xp)
    finite = xp.isfinite(logp)
    # p = 0 exactly where log p = -inf; 0 * -inf would be nan, so those terms are set to 0.
    plogp = xp.where(finite, xp.exp(logp) * xp.where(finite, logp, 0.0), 0.0)
    return -xp.sum(plogp, axis=axis)


def predicted_rates(shares: Array, fingerprints: Array) -> Array:
    """Predicted behaviour rates: rate_b = sum_k share_k * fingerprint_k(b).

    ``shares`` (..., K) persona shares, ``fingerprints`` (K, B) each persona's rate of each behaviour (for
    example CODE, REFUSAL); returns (..., B).

    >>> import numpy as np
    >>> predicted_rates(np.array([0.9, 0.1]), np.array([[0.0, 0.1], [1.0, 0.5]]))
    array([0.1 , 0.14])
    """
    xp = _xp(shares, fingerprints)
    return xp.matmul(xp.asarray(shares), xp.asarray(fingerprints))


def behaviour_rate(shares: Array, *clause_probs: Array) -> Array:
    """Predicted rate of a thresholded behaviour whose clauses are on measures independent given the persona:
    rate = sum_k share_k * prod_j P_k(clause j) (e.g. the emergent-misalignment rule "aligned < 30 and
    coherent > 50" has two clauses, one per score).

    ``clause_probs`` are each persona's probability of meeting each clause; all arguments broadcast over
    (..., K); returns (...).

    >>> import numpy as np
    >>> round(float(behaviour_rate(np.array([0.8, 0.2]), np.array([0.0, 0.9]), np.array([1.0, 0.5]))), 6)
    0.09
    """
    xp = _xp(shares, *clause_probs)
    joint = xp.asarray(shares)
    for p in clause_probs:
        joint = joint * xp.asarray(p)
    return xp.sum(joint, axis=-1)


def threshold_rate(shares: Array, *clause_probs: Array) -> Array:
    """Deprecated name of :func:`behaviour_rate` (same arguments, same result)."""
    import warnings

    warnings.warn("simstats formalism.threshold_rate is deprecated; use behaviour_rate", DeprecationWarning,
                  stacklevel=2)
    return behaviour_rate(shares, *clause_probs)


def persona_marginal(weights: Array, context_mix: Array) -> Array:
    """A checkpoint's persona distribution over its own mix of contexts (the law of total probability):
    P(z | m) = sum_c P(c | m) P(z | m, c).

    ``weights`` (..., n_contexts, K) are P(z | m, c) per context (cells); ``context_mix`` (M, n_contexts) holds
    each checkpoint's share of answers per context (rows sum to 1). Returns (..., M, K).

    >>> import numpy as np
    >>> persona_marginal(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.5, 0.5]])).tolist()
    [[0.75, 0.25]]
    """
    xp = _xp(weights, context_mix)
    return xp.matmul(xp.asarray(context_mix), xp.asarray(weights))


def marginal_log_likelihood(log_weights: Array, log_emissions: Array) -> Array:
    """Log-likelihood of an observation with the persona marginalised out: log sum_k w_k f_k(y).

    ``log_weights`` (..., K) are log P(z=k|m,c); they are normalised here, so raw logits are accepted too.
    ``log_emissions`` (..., K) are log f_k(y), the log-density of the observation under each persona.
    Both broadcast; returns (...).

    >>> import numpy as np
    >>> float(np.exp(marginal_log_likelihood(np.log([0.25, 0.75]), np.log([0.4, 0.8]))).round(4))
    0.7
    """
    xp = _xp(log_weights, log_emissions)
    log_w = _log_softmax(xp.asarray(log_weights), -1, xp)
    return _logsumexp(log_w + xp.asarray(log_emissions), -1, xp)


def responsibilities(log_weights: Array, log_emissions: Array) -> Array:
    """Per-observation posterior over personas: P(z=k|y) = w_k f_k(y) / sum_k' w_k' f_k'(y).

    Shapes as in :func:`marginal_log_likelihood`; returns (..., K), each row summing to 1.

    >>> import numpy as np
    >>> responsibilities(np.log([0.25, 0.75]), np.log([0.4, 0.8])).round(4)
    array([0.1429, 0.8571])
    """
    xp = _xp(log_weights, log_emissions)
    return xp.exp(_log_softmax(xp.asarray(log_weights) + xp.asarray(log_emissions), -1, xp))
