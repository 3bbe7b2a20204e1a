"""Model kinds: one implementation of :class:`~simstats.kinds.base.ModelKind` per ``[model] kind`` of a spec, and
the registry from the name to it. Adding a kind means adding one module (or subpackage) here and an entry in
:data:`REGISTRY` (and its rules in :data:`simstats.spec.KIND_RULES`).

>>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec
>>> kind_of(load_spec(DEFAULT_SPEC_PATH)).name
'mixture'
"""

from __future__ import annotations

from simstats.errors import SpecError
from simstats.graph.design import ModelData
from simstats.kinds import degradation, mixture, rates
from simstats.kinds.base import Emissions, ModelKind, Start
from simstats.logs.patterns import Patterns
from simstats.spec import KIND_RULES, ModelSpec

REGISTRY: dict[str, ModelKind] = {k.name: k for k in (mixture.KIND, degradation.KIND, rates.KIND)}
assert set(REGISTRY) == set(KIND_RULES), "every kind a spec can name has an implementation"


def kind_of(spec: ModelSpec) -> ModelKind:
    """The implementation of a spec's ``[model] kind``."""
    try:
        return REGISTRY[spec.kind]
    except KeyError:
        raise SpecError(f"{spec.source}: unknown model kind {spec.kind!r} (known: {', '.join(REGISTRY)})") from None


def build_model(spec: ModelSpec, patterns: Patterns, *, rows: bool = False, data: ModelData | None = None,
                centring=None):
    """The PyMC model of ``spec`` on ``patterns``; returns ``(model, ModelData)``. ``rows=True`` builds the
    row-level reference likelihood (one term per answer) instead, for benchmarks and checks; ``centring`` is a
    parametrisation choice of the kind (see :meth:`ModelKind.start`)."""
    kind = kind_of(spec)
    data = kind.design(spec, patterns) if data is None else data
    return kind.build(spec, data, centring=centring, rows=rows), data


__all__ = ["REGISTRY", "Emissions", "ModelKind", "Start", "build_model", "kind_of"]
