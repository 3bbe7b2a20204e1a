"""The fused likelihood kernel of the persona mixture on pattern counts.

It computes :func:`simstats.theory.formalism.marginal_log_likelihood` summed over unique patterns with their
counts, ``sum_p n_p log sum_k exp(logw[cell_p, k] + logf[emis_p, k])``, and its gradients in one pass, as a PyTensor
Op with numba (nutpie's default backend), JAX and Python implementations. ``tests/test_kernel.py`` checks it against
the formalism's equation and against finite differences.

>>> import numpy as np
>>> v = pattern_mixture_loglik(np.log([[0.5, 0.5]]), np.log([[0.2, 0.6]]), [0], [0], [2.0]).eval()
>>> bool(round(float(v), 6) == round(2 * np.log(0.4), 6))
True
"""

from __future__ import annotations

import numpy as np


def _mixture_kernel(logw, logf, cell, emis, count):  # pragma: no cover - compiled by numba
    """sum_p n_p log sum_k exp(logw[cell_p, k] + logf[emis_p, k]) and its gradients in logw and logf.

    Works in probability space, shifted per row so nothing overflows: ``w = exp(logw - max_k logw)`` per cell and
    ``f = exp(logf - max_k logf)`` per emission pattern, then ``log s_p = log sum_k w f + shifts``. That needs 4*C +
    4*E exponentials instead of 4*P (2-4x faster than log-sum-exp per pattern). A pattern whose shifted sum
    underflows (personas that disagree by > 640 nats) falls back to log-sum-exp.
    """
    C, K = logw.shape
    both = np.concatenate((logw, logf))         # rows of cells then emission patterns, shifted the same way
    ex = np.empty_like(both)
    shift = np.empty(both.shape[0])
    for r in range(both.shape[0]):
        m = both[r, 0]
        for k in range(1, K):
            m = max(m, both[r, k])
        shift[r] = m
        for k in range(K):
            ex[r, k] = np.exp(both[r, k] - m)
    w, f, sw, sf = ex[:C], ex[C:], shift[:C], shift[C:]
    gw = np.zeros_like(logw)
    gf = np.zeros_like(logf)
    ll = 0.0
    for p in range(cell.shape[0]):
        c = cell[p]
        e = emis[p]
        n = count[p]
        s = 0.0
        for k in range(K):
            s += w[c, k] * f[e, k]
        if s > 1e-280:
            ll += n * (np.log(s) + sw[c] + sf[e])
            inv = n / s
            for k in range(K):
                r = w[c, k] * f[e, k] * inv
                gw[c, k] += r
                gf[e, k] += r
        else:  # personas that disagree by hundreds of nats: the shifted sum underflowed
            mx = -np.inf
            for k in range(K):
                mx = max(mx, logw[c, k] + logf[e, k])
            s = 0.0
            for k in range(K):
                s += np.exp(logw[c, k] + logf[e, k] - mx)
            ll += n * (mx + np.log(s))
            for k in range(K):
                r = n * np.exp(logw[c, k] + logf[e, k] - mx) / s
                gw[c, k] += r
                gf[e, k] += r
    return np.asarray(ll), gw, gf


_KERNEL = None


def _kernel_version() -> int:
    """An integer that changes with the source of :func:`_mixture_kernel`: part of PyTensor's numba cache key, which
    otherwise holds only the Op's class and props, so that an edited kernel never runs stale from a warm cache."""
    import hashlib
    import inspect

    src = inspect.getsource(_mixture_kernel) + "fastmath=False"
    return int(hashlib.sha256(src.encode()).hexdigest()[:15], 16)


def ieee_numba() -> None:
    """Compile PyTensor's numba code without fast-math, so that draws do not depend on the compile cache.

    PyTensor's numba backend (nutpie's default, and PyMC's default linker) compiles every op with the fast-math
    flags ``reassoc``, ``contract``, ``afn``, ``arcp``, ``nsz`` unless ``numba__fastmath`` is off. With them LLVM may
    reassociate sums and fuse multiply-adds differently depending on what it can see: in a cold process every op is
    compiled from IR and inlined into the graph's function, in a warm one linked from the cache's object code. logp
    and gradient then differ in the last bits (~1e-15), and NUTS trajectories amplify that into different draws for
    the same seed (measured: up to 17.8). Without fast-math the rounding is fixed by the source, whatever the cache
    state. Global (like ``XLA_FLAGS``) so that every compile, here and in PyMC's forked chain processes, gets it; an
    explicit ``numba__fastmath`` in ``PYTENSOR_FLAGS`` is left alone.
    """
    import os

    import pytensor

    if "numba__fastmath" not in os.environ.get("PYTENSOR_FLAGS", ""):
        pytensor.config.numba__fastmath = False


def mixture_kernel():
    """The numba-compiled :func:`_mixture_kernel` (compiled on first use, cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True, fastmath=False)(_mixture_kernel)
    return _KERNEL


def _make_op():
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_undefined
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class PatternMixtureLogLik(Op):
        """log-likelihood of pattern counts under a K-persona mixture, with its gradient fused in one pass.

        Inputs: ``logw`` (cells, K) log persona weights per cell, ``logf`` (E, K) log emission probability of each
        unique emission pattern, ``cell`` (P,) and ``emis`` (P,) int64 indices of each pattern, ``count`` (P,)
        float64. Outputs: the scalar total and its gradients with respect to ``logw`` and ``logf`` (the latter two
        exist so that ``logp`` and ``dlogp`` share one pass; only the first output is meant for users).
        """

        __props__ = ()

        def make_node(self, logw, logf, cell, emis, count):
            ins = [pt.as_tensor(logw, dtype="float64"), pt.as_tensor(logf, dtype="float64"),
                   pt.as_tensor(cell, dtype="int64"), pt.as_tensor(emis, dtype="int64"),
                   pt.as_tensor(count, dtype="float64")]
            return Apply(self, ins, [pt.dscalar(), ins[0].type(), ins[1].type()])

        def perform(self, node, inputs, outputs):
            ll, gw, gf = mixture_kernel()(*inputs)
            outputs[0][0] = np.asarray(ll, dtype=np.float64)
            outputs[1][0] = gw
            outputs[2][0] = gf

        def pullback(self, inputs, outputs, output_grads):
            g = output_grads[0]
            for og in output_grads[1:]:
                if not isinstance(og.type, DisconnectedType):
                    raise NotImplementedError("second derivatives of the pattern mixture are not implemented")
            dis = DisconnectedType()
            return [g * outputs[1], g * outputs[2], dis(), dis(),
                    grad_undefined(self, 4, inputs[4], "counts are data")]

        def connection_pattern(self, node):
            return [[True, True, True], [True, True, True], [False, False, False], [False, False, False],
                    [True, True, True]]

    op = PatternMixtureLogLik()

    try:  # numba backend (nutpie's default)
        from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

        @register_funcify_default_op_cache_key(PatternMixtureLogLik)
        def _numba_pml(op, node=None, **kwargs):
            from pytensor.link.numba.dispatch import basic as nb

            # IEEE arithmetic (see ieee_numba), and the kernel's source in the cache key (see _kernel_version)
            return nb.numba_njit(_mixture_kernel, fastmath=False), _kernel_version()
    except ImportError:  # pragma: no cover
        pass

    try:  # JAX backend (nutpie backend="jax", NumPyro, BlackJAX)
        from pytensor.link.jax.dispatch import jax_funcify

        @jax_funcify.register(PatternMixtureLogLik)
        def _jax_pml(op, **kwargs):
            import jax
            import jax.numpy as jnp

            def pml(logw, logf, cell, emis, count):
                a = logw[cell] + logf[emis]
                lse = jax.nn.logsumexp(a, axis=1)
                r = jnp.exp(a - lse[:, None]) * count[:, None]
                gw = jnp.zeros_like(logw).at[cell].add(r)
                gf = jnp.zeros_like(logf).at[emis].add(r)
                return jnp.sum(count * lse), gw, gf

            return pml
    except ImportError:  # pragma: no cover
        pass
    return op


_OP = None


def pattern_mixture_loglik(logw, logf, cell, emis, count):
    """Graph of sum_p count_p log sum_k exp(logw[cell_p, k] + logf[emis_p, k]) (one fused numba/JAX/C kernel).

    >>> import numpy as np
    >>> v = pattern_mixture_loglik(np.log([[0.5, 0.5]]), np.log([[0.2, 0.6]]), [0], [0], [2.0]).eval()
    >>> bool(round(float(v), 6) == round(2 * np.log(0.4), 6))
    True
    """
    global _OP
    if _OP is None:
        _OP = _make_op()
    return _OP(logw, logf, cell, emis, count)[0]


__all__ = ["ieee_numba", "mixture_kernel", "pattern_mixture_loglik"]
