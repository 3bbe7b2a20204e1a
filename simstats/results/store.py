"""Saving and loading fitted results: NetCDF posterior + Parquet patterns + JSON metadata, no pickle.

A result folder holds ``posterior.nc`` (the ArviZ DataTree, h5netcdf engine), ``patterns.parquet`` (the exact
sufficient statistics the model saw), and ``meta.json``: the spec (in spec-file form), the spec's and the data's
hashes, the package versions, the sampler and timings, and a SHA-256 of each file. Loading recomputes every hash
and refuses a damaged or tampered folder, or one whose spec or data differ from those the caller expects.
Saving writes into a temporary folder and renames it into place, so a failure leaves nothing half-written
(:mod:`simstats.outputs`); nothing but an earlier result folder is ever replaced.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

import pandas as pd

from simstats.errors import ResultFileError, SimstatsError
from simstats.logs.patterns import Patterns
from simstats.outputs import writing
from simstats.results.fit_result import FitResult
from simstats.spec import ModelSpec, spec_from_dict, spec_source

FORMAT = "simstats-result"
FORMAT_VERSION = 1
FILES = ("posterior.nc", "patterns.parquet")
#: what meta.json must hold, and of which type, before any of it is used
_META_KEYS = {"files": dict, "spec": dict, "spec_hash": str, "patterns": dict, "data_hash": str}
VERSIONED = ("simstats", "pymc", "pytensor", "arviz-base", "arviz-stats", "numpy", "nutpie", "jax")


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _meta_digest(meta: dict) -> str:
    """SHA-256 of the metadata without its own digest, key order aside: an edit to any field (a seed, a setting, a
    diagnostic) shows, not only edits to the files, the spec and the patterns."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def is_result_folder(path: Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save_result` (its ``meta.json`` says so)."""
    try:
        return path.is_dir() and json.loads((path / "meta.json").read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_result(result: FitResult, out: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``result`` to folder ``out``: into a temporary folder, renamed into place once complete, so a failure
    (or Ctrl-C) leaves nothing half-written. An existing result folder at ``out`` is replaced only with
    ``overwrite`` (and stays intact until the new one is complete); anything else at ``out`` is never replaced.

    >>> save_result(result, "runs/em")                      # doctest: +SKIP
    PosixPath('runs/em')
    """
    out = Path(out)
    with writing(out, ours=is_result_folder, what="simstats result folder", force=overwrite, folder=True) as tmp:
        result.idata.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        result.patterns.table.to_parquet(tmp / "patterns.parquet", index=False)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "spec": spec_source(result.spec), "spec_hash": result.spec.hash(),
            "data_hash": result.patterns.data_hash(), "patterns": result.patterns.meta(),
            "versions": package_versions(), "sampler": result.sampler, "timings": result.timings,
            "files": {f: _sha256(tmp / f) for f in FILES}, **{k: v for k, v in result.meta.items() if k != "files"},
        }
        meta = json.loads(json.dumps(meta, default=str))     # as it will read back
        meta["meta_sha256"] = _meta_digest(meta)
        # keys in the order they were built (a spec's tables keep their authored order when read back)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
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
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ResultFileError(f"{meta_file}: cannot read the metadata ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultFileError(f"{meta_file}: damaged metadata ({e})") from None
    if not isinstance(meta, dict):
        raise ResultFileError(f"{meta_file}: damaged metadata (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") != FORMAT:
        raise ResultFileError(f"{meta_file}: not a simstats result (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ResultFileError(f"{meta_file}: result format version {meta.get('format_version')} is not supported "
                              f"by this simstats (reads version {FORMAT_VERSION}); refit with this version")
    missing = [k for k, kind in _META_KEYS.items() if not isinstance(meta.get(k), kind)]
    if missing:
        raise ResultFileError(f"{meta_file}: damaged or edited metadata ({', '.join(map(repr, missing))} missing or "
                              "of the wrong type); refit")
    for f in FILES:
        fp = path / f
        if not fp.is_file():
            raise ResultFileError(f"{fp}: missing from the result folder")
        try:
            digest = _sha256(fp)
        except OSError as e:
            raise ResultFileError(f"{fp}: cannot be read ({e.strerror or e})") from None
        if digest != meta["files"].get(f):
            raise ResultFileError(f"{fp}: checksum does not match meta.json (the file was changed or damaged)")
    stored_spec = spec_from_dict(meta["spec"], source=str(meta_file))
    if stored_spec.hash() != meta.get("spec_hash"):
        raise ResultFileError(f"{meta_file}: the stored spec does not match its hash (edited?)")
    if spec is not None and spec.hash() != meta["spec_hash"]:
        raise ResultFileError(f"{path}: fitted with a different spec than the one given ({stored_spec.name})")
    try:
        pats = Patterns.from_meta(pd.read_parquet(path / "patterns.parquet"), meta["patterns"])
    except SimstatsError as e:
        raise ResultFileError(str(e) if str(meta_file) in str(e) else f"{meta_file}: {e}") from None
    except Exception as e:  # noqa: BLE001 (a file or table that passed its checksum but is not what save_result wrote)
        raise ResultFileError(f"{path}: damaged or edited patterns ({type(e).__name__}: {e}); refit") from None
    if pats.data_hash() != meta.get("data_hash"):
        raise ResultFileError(f"{path}: the stored patterns do not match the data hash")
    if patterns is not None and patterns.data_hash() != meta["data_hash"]:
        raise ResultFileError(f"{path}: fitted to different data than the data given")
    try:
        idata = az.from_netcdf(path / "posterior.nc", engine="h5netcdf").load()  # no open file handle left
    except Exception as e:  # any reader error here means a damaged file that passed its checksum
        raise ResultFileError(f"{path / 'posterior.nc'}: cannot be read ({e})") from None
    if "posterior" not in idata.children:
        raise ResultFileError(f"{path / 'posterior.nc'}: holds no posterior group (not written by simstats fit)")
    # after the checks above, whose messages say more; results saved before the digest existed have none
    if "meta_sha256" in meta and meta["meta_sha256"] != _meta_digest(meta):
        raise ResultFileError(f"{meta_file}: the metadata was edited (its fields do not match their checksum); refit")
    extra = {k: v for k, v in meta.items() if k not in {"spec", "patterns", "files", "meta_sha256"}}
    return FitResult(idata, stored_spec, pats, meta.get("sampler", ""), meta.get("timings", {}), extra)
