"""Every model keeps its log-density: the free variables, log-density and gradient of the specs in models/ at a
fixed point of the bundled log equal the stored ones (``validation/model_invariants.json``, written by
``scripts/model_invariants.py`` before the package was reorganised) to 1e-10. A change of a model must rewrite that
file on purpose; anything else that moves these numbers is a bug.

Two specs cover most code paths of the graph (the persona mixture with condition effects, prompt features, the
question effect and the fused kernel; degradation with its adaptive parametrisation); ``scripts/model_invariants.py
--check`` compares every spec (about 3 minutes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORED = json.loads((ROOT / "validation" / "model_invariants.json").read_text())


def _script():
    from conftest import load_script

    return load_script(ROOT / "scripts" / "model_invariants.py")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["persona_mixture.toml", "degradation.toml"])
def test_log_density_and_gradient_are_unchanged(name):
    mod = _script()
    got = mod.spec_invariants(ROOT / "models" / name)
    assert mod.differences(STORED[name], got) == []


def test_every_spec_has_stored_invariants():
    assert sorted(STORED) == sorted(p.name for p in (ROOT / "models").glob("*.toml"))


def test_the_comparison_catches_a_change():
    mod = _script()
    want = STORED["persona_mixture.toml"]
    changed = json.loads(json.dumps(want))
    changed["logp"] += 1e-6 * abs(want["logp"])
    first = next(iter(changed["grad"]))
    changed["grad"][first][0] += 1e-3
    diffs = mod.differences(want, changed)
    assert any("logp" in d for d in diffs) and any(first in d for d in diffs)
