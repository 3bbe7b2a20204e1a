"""The entry-point audit (issue 18, item 1; table in validation/reliability_audit.md): each case that gave a
traceback, a wrong exit status or a silent guess gives exit 2 and one line (or is read correctly). No fits: every
case fails before sampling, and the saved runs are assembled by hand."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import run_cli, write_csv

from simstats.errors import ResultFileError, SimstatsError, SpecError
from simstats.spec import default_spec_path, load_spec
from simstats.spec.source import spec_source

SPEC = default_spec_path()
TEXT = SPEC.read_text()


def _one_line(code: int, err: str, *needles: str) -> None:
    line = " ".join(err.split())
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and line.startswith("error:"), err
    for n in needles:
        assert n in line, (n, line)


def _log(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "log.csv", [{"model": f"m{i % 2}", "question_id": f"q{i % 3}",
                                             "aligned": float(i), "coherent": 60.0} for i in range(12)])


# ------------------------------------------------------------------------------------------------ spec files
@pytest.mark.parametrize("old, new, needle", [
    ("logodds = { mean = -3.0, sd = 2.0 }", "logodds = { mean = nan, sd = 2.0 }", "logodds.mean must be a finite"),
    ("logodds = { mean = -3.0, sd = 2.0 }", "logodds = { mean = -3.0, sd = inf }", "logodds.sd must be a finite"),
    ("anchors.coherent = { mean = 75 }", "anchors.coherent = { mean = -inf }", "anchors.coherent.mean must be a"),
    ("anchor_strength = 10.0", "anchor_strength = nan", "priors.anchor_strength must be a finite"),
    ("target_accept = 0.9", "target_accept = nan", "sampler.target_accept must be a finite"),
    ("draws = 1500", "draws = 9223372036854775807", "sampler.draws must be <= 10000000"),
    ("chains = 4", "chains = 100000", "sampler.chains must be <= 64"),
    (('effects.finetune = { column = "finetune", kind = "categorical", reference = "none" }\n'
      'effects.base_model = { column = "base_model", kind = "categorical" }'),
     'effects = [{ column = "finetune" }]', "conditions.effects must be a table, got list"),
])
def test_spec_values_out_of_range_or_of_the_wrong_shape(tmp_path, monkeypatch, capsys, old, new, needle):
    """NaN and inf passed every range check (a NaN compares false), huge counts passed to the sampler, and a list
    of effects raised TypeError; now each is one line naming the file and the key, for fit and simulate alike."""
    assert old in TEXT
    p = tmp_path / "bad.toml"
    p.write_text(TEXT.replace(old, new, 1))
    for args in (["fit", str(p), str(tmp_path / "none.csv"), "--out", str(tmp_path / "run")],
                 ["simulate", str(p), "--out", str(tmp_path / "sim.csv"), "--seed", "1"]):
        code, _, err = run_cli(args, monkeypatch, capsys)
        _one_line(code, err, "bad.toml", needle)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize("encode, needle", [
    (lambda t: t.encode("utf-16"), "not a UTF-8 text file"),
    (lambda t: t.replace("persona_mixture", "persona_m\xefxture").encode("latin-1"), "not a UTF-8 text file"),
    (lambda t: gzip.compress(t.encode()), "not a UTF-8 text file"),
])
def test_spec_files_in_other_encodings(tmp_path, monkeypatch, capsys, encode, needle):
    p = tmp_path / "enc.toml"
    p.write_bytes(encode(TEXT))
    code, _, err = run_cli(["fit", str(p), str(tmp_path / "none.csv"), "--out", str(tmp_path / "run")],
                           monkeypatch, capsys)
    _one_line(code, err, "enc.toml", needle)


def test_spec_with_a_byte_order_mark_or_crlf_is_read(tmp_path):
    bom, crlf = tmp_path / "bom.toml", tmp_path / "crlf.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    crlf.write_bytes(TEXT.replace("\n", "\r\n").encode())
    assert load_spec(bom).hash() == load_spec(crlf).hash() == load_spec(SPEC).hash()


def test_spec_that_is_a_folder_or_unreadable(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="is a folder, not a spec file"):
        load_spec(tmp_path)
    p = tmp_path / "locked.toml"
    p.write_text(TEXT)

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)      # chmod 000 does not stop root, which the tests may be
    with pytest.raises(SpecError, match="locked.toml: cannot read the spec file .Permission denied"):
        load_spec(p)


def test_roles_file_with_a_byte_order_mark_is_read(tmp_path, monkeypatch, capsys):
    roles = tmp_path / "roles.toml"
    roles.write_bytes(b"\xef\xbb\xbf" + b'[condition]\ncolumns = "model"\n')
    code, out, err = run_cli(["data", "check", str(_log(tmp_path)), "--roles", str(roles), "--json"],
                             monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["rows_used"] == 12 and json.loads(out)["n_conditions"] == 2


# ------------------------------------------------------------------------------------------------ saved runs
def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _fake_run(folder: Path, *, posterior: bytes | None = None, patterns_bytes: bytes | None = None) -> Path:
    """A result folder with a real spec, real patterns and their hashes, but no fit behind it."""
    import xarray as xr

    from simstats.validation import simulate_log

    spec = load_spec(SPEC)
    pats, _ = simulate_log(spec, n_conditions=2, n_prompts=2, answers_per_cell=5, seed=1)
    folder.mkdir()
    if patterns_bytes is None:
        pats.table.to_parquet(folder / "patterns.parquet", index=False)
    else:
        (folder / "patterns.parquet").write_bytes(patterns_bytes)
    if posterior is None:   # a valid NetCDF file, but not a posterior
        xr.Dataset({"x": ("a", np.arange(3))}).to_netcdf(folder / "posterior.nc", engine="h5netcdf")
    else:
        (folder / "posterior.nc").write_bytes(posterior)
    meta = {"format": "simstats-result", "format_version": 1, "spec": spec_source(spec), "spec_hash": spec.hash(),
            "data_hash": pats.data_hash(), "patterns": pats.meta(),
            "files": {f: _sha(folder / f) for f in ("posterior.nc", "patterns.parquet")}}
    (folder / "meta.json").write_text(json.dumps(meta, default=str))
    return folder


def _edit(folder: Path, change) -> Path:
    meta = json.loads((folder / "meta.json").read_text())
    new = change(meta)
    (folder / "meta.json").write_text(json.dumps(meta if new is None else new))
    return folder


@pytest.mark.parametrize("name, change, needle", [
    ("list", lambda m: [m], "damaged metadata (a JSON list, not an object)"),
    ("files", lambda m: m.update(files=["posterior.nc"]), "'files' missing or of the wrong type"),
    ("no_spec", lambda m: m.pop("spec") and None, "'spec' missing or of the wrong type"),
    ("no_patterns", lambda m: m.pop("patterns") and None, "'patterns' missing or of the wrong type"),
    ("grids", lambda m: m["patterns"].update(grids="x"), "damaged or edited patterns"),
    ("no_grids", lambda m: m["patterns"].pop("grids") and None, "damaged or edited patterns (KeyError"),
])
def test_edited_metadata_is_one_line(tmp_path, monkeypatch, capsys, name, change, needle):
    """meta.json holds the checksums (its own fields have a digest, which these hand-written runs lack): an edit of
    its structure raised AttributeError or KeyError; now each is one line naming the run."""
    run = _edit(_fake_run(tmp_path / name), change)
    code, _, err = run_cli(["report", str(run)], monkeypatch, capsys)
    _one_line(code, err, name, needle)


def test_damaged_files_whose_checksums_were_forged(tmp_path):
    with pytest.raises(ResultFileError, match="damaged or edited patterns .ArrowInvalid"):
        load_result_(_fake_run(tmp_path / "junk", patterns_bytes=b"junk"))
    with pytest.raises(ResultFileError, match="holds no posterior group"):
        load_result_(_fake_run(tmp_path / "other"))


def load_result_(path):
    from simstats.results.store import load_result

    return load_result(path)


def test_unreadable_metadata(tmp_path, monkeypatch):
    run = _fake_run(tmp_path / "run")
    real = Path.read_text

    def denied(self, *a, **k):
        if self.name == "meta.json":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(ResultFileError, match="meta.json: cannot read the metadata .Permission denied"):
        load_result_(run)


# ------------------------------------------------------------------------------------------------ output paths
def test_an_output_under_a_regular_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """``--out notes.txt/run`` passed the claim, and the write failed with FileExistsError (a traceback) after
    the work was done (for fit: after sampling)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for args in (["fit", str(SPEC), str(_log(tmp_path)), "--condition", "model", "--out", str(notes / "run")],
                 ["report", str(tmp_path / "no_run"), "--html", str(notes / "r.html")],
                 ["figures", str(tmp_path / "no_run"), "--out", str(notes / "figs")],
                 ["simulate", str(SPEC), "--out", str(notes / "sim.csv"), "--seed", "1"]):
        code, _, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "notes.txt" in err and ("is a file, not a folder" in err or "cannot create the folder" in err), err
    assert notes.read_text() == "mine"


# ------------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize("option", [["--questions", "99999999999"], ["--answers", "99999999999"],
                                    ["--groups", "100000,100000,100000"]])
def test_simulate_refuses_a_design_too_large_to_draw(tmp_path, monkeypatch, capsys, option):
    """A huge design allocated memory without bound (11 GB and growing before it was killed)."""
    code, _, err = run_cli(["simulate", str(SPEC), "--out", str(tmp_path / "s.csv"), "--seed", "1", *option],
                           monkeypatch, capsys)
    _one_line(code, err, "rows, more than the 10,000,000")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, needle", [
    ({"draws": -5}, "draws must be a whole number from 1"), ({"draws": 0}, "draws must be"),
    ({"draws": 1.5}, "draws must be"), ({"tune": -1}, "tune must be"), ({"chains": 0}, "chains must be"),
    ({"chains": 10 ** 6}, "chains must be"), ({"seed": -1}, "seed must be a whole number >= 0"),
    ({"draws": True}, "draws must be"),
])
def test_fit_settings_of_the_python_api(tmp_path, kwargs, needle):
    """``simstats.fit(draws=-5)`` overflowed in the sampler (a traceback after compiling) and ``draws=0`` quietly
    meant the spec's 1,500; now both are refused before the spec or the data are read."""
    import simstats
    from simstats import inference

    with pytest.raises(SimstatsError, match=needle):
        simstats.fit(SPEC, tmp_path / "none.csv", **kwargs)
    with pytest.raises(SimstatsError, match=needle):
        inference.fit(None, None, **kwargs)


@pytest.mark.parametrize("prob", [math.nan, 2.0, 0, 1, "0.9", None])
def test_interval_probability(prob):
    from simstats.kinds.base import interval
    from simstats.results.contrast import contrast

    with pytest.raises(SimstatsError, match="prob must be a number between 0 and 1"):
        contrast(SimpleNamespace(), "a", "b", prob=prob)
    with pytest.raises(SimstatsError, match="prob must be"):
        interval(np.zeros((1, 4, 2)), prob)


def test_contrast_names_must_be_strings():
    from simstats.results.contrast import contrast

    with pytest.raises(SimstatsError, match="a must be a name"):
        contrast(SimpleNamespace(), 1, "b")


@pytest.mark.parametrize("kwargs, needle", [({"formats": ["gif"]}, "unsupported format"),
                                            ({"formats": []}, "unsupported format"),
                                            ({"figures": ["nope"]}, "unknown figure"),
                                            ({"seed": -1}, "seed must be"), ({"seed": 2 ** 40}, "seed must be")])
def test_write_figures_options(tmp_path, kwargs, needle):
    from simstats.plots.registry import write_figures

    with pytest.raises(SimstatsError, match=needle):
        write_figures(None, tmp_path / "figs", **kwargs)
    assert not (tmp_path / "figs").exists()


# ------------------------------------------------------------------------------------------------ role flags
@pytest.mark.parametrize("flags, needle", [
    (["--condition", "model", "--prompt", ""], "--prompt '': give a column name"),
    (["--condition", "model", "--id", ""], "--id '': give a column name"),
    (["--condition", "model", "--verdict", " "], "--verdict '': give a column name"),
    (["--condition", ""], "--condition '': give a column name"),
    (["--condition", "model", "--condition-from-filename", "(?P<m>.+)"], "not both"),
    (["--condition", "model", "--behaviour", "m: aligned < 3", "--behaviour", "m: aligned < 4"],
     "--behaviour names 'm' twice"),
    (["--condition-from-filename", "(?P<m>log)", "--condition-default", "e=1", "--condition-default", "e=2"],
     "--condition-default names 'e' twice"),
])
def test_ambiguous_or_empty_role_flags(tmp_path, monkeypatch, capsys, flags, needle):
    """Each was accepted with exit 0: an empty flag silently meant the default, and of two conflicting flags the
    last one won."""
    code, out, err = run_cli(["data", "check", str(_log(tmp_path)), *flags], monkeypatch, capsys)
    _one_line(code, err, needle)
    assert out == ""


@pytest.mark.parametrize("mean, says", [
    (900, "persona 'misaligned': anchors.aligned.mean = 900 is outside the measure's range 0 to 100"),
    (-1, "persona 'misaligned': anchors.aligned.mean = -1 is outside the measure's range 0 to 100")])
def test_an_anchor_outside_its_measure_range_is_refused_before_sampling(mean, says):
    """Issue 18 audit gap: an anchor mean outside the measure's grid was clipped to the edge without a word (a
    typo such as 900 for 90 ran as "100")."""
    import re

    from simstats.graph.design import model_data
    from simstats.spec import spec_from_dict
    from simstats.validation.quick import simulate_log

    default = load_spec(default_spec_path())
    d = spec_source(default)
    assert d["personas"][1]["name"] == "misaligned"
    d["personas"][1]["anchors"]["aligned"]["mean"] = mean
    pats, _ = simulate_log(default, n_conditions=2, n_prompts=2, answers_per_cell=5, seed=1)
    with pytest.raises(SpecError, match="edited.toml: " + re.escape(says)):
        model_data(spec_from_dict(d, source="edited.toml"), pats)


def test_a_score_spec_on_a_binary_measure_is_refused_with_the_range():
    """The EM spec's score anchors (means 10-92) applied to a yes/no measure: each is a probability there."""
    from simstats.graph.design import model_data
    from simstats.logs.grid import Grid
    from simstats.validation.quick import simulate_log

    from simstats.spec import spec_from_dict

    d = spec_source(load_spec(default_spec_path()))
    d["measures"]["coherent"]["bins"] = "data"            # the yes/no grid as it is
    spec = spec_from_dict(d)
    pats, _ = simulate_log(spec, n_conditions=2, n_prompts=2, answers_per_cell=5, seed=1,
                           grids={"coherent": Grid.of_levels(["no", "yes"])})
    with pytest.raises(SpecError, match=r"persona 'aligned': anchors.coherent.mean = 92 is outside a probability, "
                                        r"0 to 1"):
        model_data(spec, pats)


def test_a_billion_bins_is_refused_when_the_spec_is_read(tmp_path, monkeypatch, capsys):
    """``bins = 1000000000``: ``simstats simulate`` asked numpy for 7.45 GiB and died with a traceback."""
    spec = tmp_path / "big.toml"
    spec.write_text(Path(default_spec_path()).read_text().replace("\nbins = 10\n", "\nbins = 1000000000\n"))
    code, _, err = run_cli(["simulate", str(spec), "--out", str(tmp_path / "sim.csv"), "--seed", "1"], monkeypatch,
                           capsys)
    _one_line(code, err, "big.toml", "measures.aligned.bins must be <= 10000")
    assert not (tmp_path / "sim.csv").exists()
