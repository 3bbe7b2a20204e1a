"""Saving and loading fitted results: NetCDF posterior + Parquet patterns + JSON metadata, no pickle.

A result folder holds ``posterior.nc`` (the ArviZ DataTree, h5netcdf engine), ``patterns.parquet`` (the exact
sufficient statistics the model saw), and ``meta.json``: the spec (in spec-file form), the spec's and the data's
hashes, the package versions, the sampler and timings, and a SHA-256 of each file. Loading recomputes every hash
and refuses a damaged or tampered folder, or one whose spec or data differ from those the caller expects.
Saving writes into a temporary folder and renames it into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from simstats.errors import ResultFileError, SimstatsError
from simstats.logs.grid import Grid
from simstats.logs.patterns import Accounting, Patterns
from simstats.posterior import FitResult
from simstats.spec import ModelSpec, spec_from_dict

FORMAT = "simstats-result"
FORMAT_VERSION = 1
FILES = ("posterior.nc", "patterns.parquet")
VERSIONED = ("simstats", "pymc", "pytensor", "arviz-base", "arviz-stats", "numpy", "nutpie", "jax")


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def spec_source(spec: ModelSpec) -> dict[str, Any]:
    """The spec in spec-file form (what :func:`spec_from_dict` reads), so a stored spec loads like a file."""
    d: dict[str, Any] = {"model": {"name": spec.name, "description": spec.description}}
    if spec.kind != "mixture":           # written only when set, like every key added later
        d["model"]["kind"] = spec.kind
    d["personas"] = [{"name": p.name, "description": p.description,
                      "logodds": {"mean": p.logodds[0], "sd": p.logodds[1]},
                      "anchors": {m: asdict(a) for m, a in p.anchors.items()},
                      **({"verdicts": dict(p.verdicts)} if p.verdicts else {})} for p in spec.personas]
    d["measures"] = {m.name: {"likelihood": m.likelihood, "bins": "data" if m.bins is None else m.bins}
                     for m in spec.measures}
    d["verdict"] = {"likelihood": spec.verdict_likelihood}
    h = spec.hierarchy
    d["hierarchy"] = {"levels": "data" if h.levels is None else list(h.levels), "structure": h.structure,
                      "sigma": h.sigma, "parametrization": h.parametrization, "variance": h.variance}
    pr = spec.prompt
    d["prompt"] = {"question_effect": pr.question_effect, "question_sigma": pr.question_sigma,
                   "features": "data" if pr.features is None else list(pr.features),
                   "reference": dict(pr.reference), "coef_sd": pr.coef_sd}
    if pr.interactions:                  # written only when set, like every key added later
        d["prompt"]["interactions"] = [{k: v for k, v in asdict(x).items() if v is not None}
                                       for x in pr.interactions]
    c = spec.conditions
    if c.effects or c.coef_sd != 5.0:
        d["conditions"] = {"coef_sd": c.coef_sd,
                           "effects": {n: {k: v for k, v in asdict(e).items() if v is not None}
                                       for n, e in c.effects.items()}}
    if spec.fingerprints != type(spec.fingerprints)():
        d["fingerprints"] = asdict(spec.fingerprints)
    d["priors"] = {"anchor_strength": spec.anchor_strength, "verdict_strength": spec.verdict_strength}
    d["sampler"] = asdict(spec.sampler)
    return d


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _patterns_meta(p: Patterns) -> dict[str, Any]:
    return {"grids": {m: g.to_dict() for m, g in p.grids.items()}, "measures": p.measures, "features": p.features,
            "condition_levels": p.condition_levels, "verdict_levels": p.verdict_levels,
            "accounting": p.accounting.to_dict()}


def save_result(result: FitResult, out: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``result`` to folder ``out`` (atomically: a temporary folder renamed into place)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise SimstatsError(f"{out} exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result.idata.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        result.patterns.table.to_parquet(tmp / "patterns.parquet", index=False)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "spec": spec_source(result.spec), "spec_hash": result.spec.hash(),
            "data_hash": result.patterns.data_hash(), "patterns": _patterns_meta(result.patterns),
            "versions": package_versions(), "sampler": result.sampler, "timings": result.timings,
            "files": {f: _sha256(tmp / f) for f in FILES}, **{k: v for k, v in result.meta.items() if k != "files"},
        }
        # keys in the order they were built (a spec's tables keep their authored order when read back)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_result(path: str | Path, *, spec: ModelSpec | None = None, patterns: Patterns | None = None) -> FitResult:
    """Read a result folder, verifying every file's checksum, the spec and data hashes, and (when given) that the
    stored spec and data equal ``spec`` and ``patterns``."""
    import arviz as az

    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise ResultFileError(f"{path}: not a simstats result folder (no meta.json)")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultFileError(f"{meta_file}: damaged metadata ({e})") from None
    if meta.get("format") != FORMAT:
        raise ResultFileError(f"{meta_file}: not a simstats result (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ResultFileError(f"{meta_file}: result format version {meta.get('format_version')} is not supported "
                              f"by this simstats (reads version {FORMAT_VERSION}); refit with this version")
    for f in FILES:
        fp = path / f
        if not fp.is_file():
            raise ResultFileError(f"{fp}: missing from the result folder")
        if _sha256(fp) != meta.get("files", {}).get(f):
            raise ResultFileError(f"{fp}: checksum does not match meta.json (the file was changed or damaged)")
    stored_spec = spec_from_dict(meta["spec"], source=str(meta_file))
    if stored_spec.hash() != meta.get("spec_hash"):
        raise ResultFileError(f"{meta_file}: the stored spec does not match its hash (edited?)")
    if spec is not None and spec.hash() != meta["spec_hash"]:
        raise ResultFileError(f"{path}: fitted with a different spec than the one given ({stored_spec.name})")
    pm = meta["patterns"]
    table = pd.read_parquet(path / "patterns.parquet")
    acc = pm.get("accounting", {})
    pats = Patterns(table, {m: Grid(**g) for m, g in pm["grids"].items()}, pm["measures"], pm["features"],
                    pm["condition_levels"], pm["verdict_levels"],
                    Accounting(acc.get("rows_read", 0), acc.get("rows_used", 0), acc.get("excluded", {}),
                               acc.get("files", {})))
    if pats.data_hash() != meta.get("data_hash"):
        raise ResultFileError(f"{path}: the stored patterns do not match the data hash")
    if patterns is not None and patterns.data_hash() != meta["data_hash"]:
        raise ResultFileError(f"{path}: fitted to different data than the data given")
    try:
        idata = az.from_netcdf(path / "posterior.nc", engine="h5netcdf").load()  # no open file handle left
    except Exception as e:  # any reader error here means a damaged file that passed its checksum
        raise ResultFileError(f"{path / 'posterior.nc'}: cannot be read ({e})") from None
    extra = {k: v for k, v in meta.items() if k not in {"spec", "patterns", "files"}}
    return FitResult(idata, stored_spec, pats, meta.get("sampler", ""), meta.get("timings", {}), extra)
