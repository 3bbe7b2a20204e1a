"""The free variables, log-density and gradient of every spec in models/ at a fixed point of the bundled log: a
fingerprint of each model that a refactor must keep (``tests/test_model_invariants.py`` compares against it).

The point: every value variable (unconstrained space) at uniform(-0.6, 0.6) values from a seed made of its name, so
it does not depend on the start values' code. Run with ``--check FILE`` to compare the current code with a stored
file instead of writing one.

    python scripts/model_invariants.py                      # writes validation/model_invariants.json
    python scripts/model_invariants.py --check validation/model_invariants.json
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "validation" / "model_invariants.json"


def fixed_point(model) -> dict[str, np.ndarray]:
    """Every value variable at uniform(-0.6, 0.6) values seeded by its name."""
    return {name: np.random.default_rng(zlib.crc32(name.encode())).uniform(-0.6, 0.6, np.shape(v))
            for name, v in model.initial_point().items()}


def invariants(model, mode: str = "NUMBA") -> dict:
    """Free variables (name, shape), deterministics, the log-density and its gradient per value variable."""
    point = fixed_point(model)
    logp = model.compile_logp(mode=mode)(point)
    grad = np.asarray(model.compile_dlogp(mode=mode)(point)).ravel()
    names = [v.name for v in model.value_vars]
    sizes = [int(np.prod(np.shape(point[n]))) for n in names]
    starts = np.cumsum([0, *sizes[:-1]])
    return {"free": sorted([rv.name, list(np.shape(point[model.rvs_to_values[rv].name]))] for rv in model.free_RVs),
            "deterministics": sorted(d.name for d in model.deterministics), "logp": float(logp),
            "grad": {n: grad[a:a + b].tolist() for n, a, b in zip(names, starts, sizes)}, "value_order": names}


def spec_invariants(path: Path) -> dict:
    from simstats.datasets import load_dataset
    from simstats.kinds import build_model
    from simstats.spec import load_spec

    spec = load_spec(path)
    patterns = load_dataset().patterns
    feats = spec.prompt.features if isinstance(spec.prompt.features, (list, tuple)) else []
    if not (set(spec.measure_names) <= set(patterns.measures) and set(feats) <= set(patterns.features)):
        # a spec of another experiment (other measures or prompt features): its own simulated log
        from simstats.logs import load_roles
        from simstats.validation import simulate_log

        roles = ROOT / "models" / "roles" / path.name             # its measures' levels, where its roles say so
        grids = ({m.key: m.grid for m in load_roles(roles).measures if m.has_levels} if roles.exists() else {})
        ref = dict(spec.prompt.reference or {})
        features = {f: [ref.get(f, "a"), "b" if ref.get(f) != "b" else "c"] for f in feats}
        patterns, _ = simulate_log(spec, n_conditions=4, n_prompts=5, answers_per_cell=20, seed=0,
                                   features=features or None, grids=grids)
    model, _ = build_model(spec, patterns)
    return invariants(model)


def differences(want: dict, got: dict, tol: float = 1e-10) -> list[str]:
    """What differs between two invariants (free variables, deterministics, log-density, gradient to ``tol``,
    relative to max(1, |value|))."""
    out = []
    if want["free"] != got["free"]:
        out.append(f"free variables differ: {want['free']} != {got['free']}")
    if want["deterministics"] != got["deterministics"]:
        out.append("deterministics differ")
    if abs(want["logp"] - got["logp"]) > tol * max(1.0, abs(want["logp"])):
        out.append(f"logp {got['logp']!r} != {want['logp']!r}")
    for name, g in want["grad"].items():
        a, b = np.asarray(g), np.asarray(got["grad"].get(name, []))
        if a.shape != b.shape or (a.size and np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))) > tol):
            out.append(f"gradient of {name} differs")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", type=Path, help="compare with this stored file instead of writing one")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    result = {}
    for f in sorted((ROOT / "models").glob("*.toml")):
        result[f.name] = spec_invariants(f)
        print(f"{f.name}: logp {result[f.name]['logp']:.10g}, {len(result[f.name]['free'])} free variables",
              flush=True)
    if args.check:
        stored = json.loads(args.check.read_text())
        bad = {k: differences(stored[k], v) for k, v in result.items() if k in stored}
        for k, d in bad.items():
            print(f"{k}: {'same' if not d else '; '.join(d)}")
        return 1 if any(bad.values()) else 0
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
