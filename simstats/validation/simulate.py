"""Synthetic row-level logs from a spec's generative model (``simstats simulate``): the parameters are one draw
of the PyMC model's own prior (or a truth file written before), the answers are drawn by the simulators' shared
process (:mod:`simstats.validation.draw`) from the model kind's forward model, and :meth:`Simulation.write` writes
the log with its truth, per-answer personas and roles.

Two choices are the simulator's, not the prior's. Persona fingerprints are drawn near the anchors (sharper than
the anchored Dirichlet prior, which is deliberately vague: sharp fingerprints look like real judge scores) unless
``fingerprint_concentration=None`` keeps them exact; and a persona model's verdicts follow the scores (an answer
has a verdict exactly when its verdict measure has no score), which the model, whose verdict fingerprint is
independent of the scores, does not require.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simstats.errors import SimstatsError
from simstats.families.fingerprints import category_labels
from simstats.kinds import kind_of
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.patterns import Accounting, Patterns
from simstats.logs.roles import Measure, Roles
from simstats.outputs import claim_output
from simstats.spec import ModelSpec, load_spec
from simstats.validation.design import RESERVED_COLUMNS, Design
from simstats.validation.draw import draw_categories, draw_components, draw_from_rows, scores_in_bins
from simstats.validation.quick import default_fingerprints

TRUTH_FORMAT = "simstats-simulation-truth"
TRUTH_FORMAT_VERSION = 1
LOG_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _bad(message: str) -> SimstatsError:
    return SimstatsError(message)


def _seed(seed: int | None) -> int:
    if seed is None:
        return secrets.randbelow(2 ** 32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise _bad(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _named(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values)}


def _draw_fingerprints(spec: ModelSpec, grids: dict[str, Grid], rng: np.random.Generator,
                       concentration: float | None) -> dict[str, np.ndarray]:
    """:func:`default_fingerprints`, each row perturbed by a Dirichlet(concentration * row) draw (categories with
    probability zero, such as a never-missing score's ``no_score``, stay zero)."""
    fps = default_fingerprints(spec, grids)
    if concentration is None:
        return fps
    out = {}
    for m, fp in fps.items():
        g = np.zeros_like(fp)
        pos = fp > 0
        g[pos] = rng.standard_gamma(concentration * fp[pos])
        bad = g.sum(1) <= 0
        g[bad] = fp[bad]
        out[m] = g / g.sum(1, keepdims=True)
    return out


def _verdict_block(spec: ModelSpec, design: Design, fps: dict[str, np.ndarray]) -> dict:
    """Verdicts consistent with the scores: an answer gets a non-"scored" verdict exactly when its verdict measure
    (the first measure any persona can leave empty) has no score; which one follows the persona's declared
    verdict probabilities (equal shares for levels it does not declare)."""
    measure = next((m for m in spec.measure_names if fps[m][:, 0].max() > 0), spec.measure_names[0])
    declared = sorted({v for p in spec.personas for v in p.verdicts} - {"scored"} - set(design.verdict_levels))
    levels = [*design.verdict_levels, *declared]
    given = {}
    for p in spec.personas:
        known = {k: v for k, v in p.verdicts.items() if k in levels}
        rest = [lv for lv in levels if lv not in known]
        left = max(0.0, 1.0 - sum(known.values()) - p.verdicts.get("scored", 0.0))
        w = np.array([known.get(lv, left / len(rest) if rest else 0.0) for lv in levels])
        w = w / w.sum() if w.sum() > 0 else np.full(len(levels), 1.0 / len(levels))
        given[p.name] = _named(levels, w)
    return {"measure": measure, "levels": ["scored", *levels], "given_no_score": given}


def _check_truth(truth: dict, spec: ModelSpec, grids: dict[str, Grid], personas: bool = True) -> None:
    if truth.get("format") != TRUTH_FORMAT:
        raise _bad("not a simulation truth file (no \"format\": \"simstats-simulation-truth\")")
    if truth.get("format_version") != TRUTH_FORMAT_VERSION:
        raise _bad(f"truth format version {truth.get('format_version')!r}; this simstats reads "
                   f"{TRUTH_FORMAT_VERSION}")
    if not personas:
        if truth.get("personas") != []:
            raise _bad("not a truth of a model without personas (its personas differ)")
        return
    if truth.get("personas") != spec.persona_names:
        raise _bad(f"the truth's personas {truth.get('personas')} are not the spec's {spec.persona_names}")
    for m in spec.measure_names:
        rows = truth["parameters"]["fingerprints"].get(m, {})
        n = {len(v) for v in rows.values()}
        if n != {grids[m].n_bins + 1}:
            raise _bad(f"the truth's fingerprint of {m!r} has {sorted(n)} categories; the spec's {m} has "
                       f"{grids[m].n_bins} bins plus no_score")


def read_truth(path: str | Path) -> dict:
    """Read a truth file written by :meth:`Simulation.write` (one-line :class:`SimstatsError` when it is not one).

    >>> read_truth("no/such/file.truth.json")
    Traceback (most recent call last):
    simstats.errors.SimstatsError: no/such/file.truth.json: truth file not found
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(f"{path}: truth file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(f"{path}: cannot read the truth file ({e})") from None
    if not isinstance(d, dict) or d.get("format") != TRUTH_FORMAT:
        raise _bad(f"{path}: not a simulation truth file (no \"format\": \"{TRUTH_FORMAT}\")")
    return d


# ------------------------------------------------------------------------------------------------------ drawing


@dataclass
class Simulation:
    """A simulated row-level log, the per-answer personas, the truth behind them and the roles to read them.

    ``rows``: one row per answer (condition-level columns, ``question_id``, ``question``, the features,
    ``answer_id``, the measures with NaN for no score, ``verdict`` when the design has verdicts);
    ``personas``: ``answer_id``, ``condition``, ``persona``; ``truth``: the JSON-able truth (see :func:`simulate`);
    ``roles``: the :class:`~simstats.logs.roles.Roles` under which ``open_logs`` uses every row.
    """

    rows: pd.DataFrame
    personas: pd.DataFrame
    truth: dict
    design: Design
    roles: Roles

    @property
    def seed(self) -> int:
        return int(self.truth["seed"])

    def shares(self) -> pd.DataFrame:
        """The true persona shares: one row per condition (over its own prompt mix), one column per persona."""
        return pd.DataFrame(self.truth["shares"]).T[self.truth["personas"]]

    def roles_toml(self) -> str:
        """The roles as a TOML file (``simstats data check LOG --roles FILE``)."""
        r = self.roles
        lines = ["# Roles of a log written by `simstats simulate`: simstats data check LOG --roles THIS_FILE",
                 "[condition]", f"columns = {json.dumps(list(r.condition))}", "", "[prompt]",
                 f"column = {json.dumps(r.prompt)}"]
        if r.prompt_regex:
            lines.append(f"regex = {json.dumps(r.prompt_regex)}")
            lines.append("defaults = { " + ", ".join(f"{k} = {json.dumps(v)}"
                                                     for k, v in r.feature_defaults.items()) + " }")
        for m in r.measures:
            lines += ["", "[[measure]]", f"column = {json.dumps(m.column)}", f"lower = {m.lower!r}",
                      f"upper = {m.upper!r}", f"bins = {m.n_bins}"]
        if r.verdict:
            lines += ["", "[verdict]", f"column = {json.dumps(r.verdict)}"]
        lines += ["", "[id]", f"column = {json.dumps(r.id)}", ""]
        return "\n".join(lines)

    def paths(self, out: str | Path) -> dict[str, Path]:
        """Where :meth:`write` puts each file for a log at ``out`` (``x.csv``: ``x.truth.json``,
        ``x.personas.csv``, ``x.roles.toml``)."""
        out = Path(out)
        log_format(out)
        stem = out.name[: -len(out.suffix)]
        return {"log": out, "truth": out.with_name(f"{stem}.truth.json"),
                "personas": out.with_name(f"{stem}.personas{out.suffix}"), "roles": out.with_name(f"{stem}.roles.toml")}

    def write(self, out: str | Path, *, force: bool = False) -> dict[str, Path]:
        """Write the log (CSV or Parquet by ``out``'s suffix) and beside it the truth JSON, the per-answer personas
        (same format) and the roles TOML. Every file goes to a temporary file first and is renamed into place once
        all are written (the log last), so a failure leaves no half-written file. Files of an earlier simulation
        at these paths (its truth file says so) are replaced only with ``force``; other files never are.

        >>> import tempfile
        >>> from simstats.spec import DEFAULT_SPEC_PATH
        >>> sim = simulate(DEFAULT_SPEC_PATH, design=Design(groups=(1, 1, 1), questions=2, answers=2), seed=1)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     sorted(p.name for p in sim.write(Path(d) / "sim.csv").values())
        ['sim.csv', 'sim.personas.csv', 'sim.roles.toml', 'sim.truth.json']
        """
        paths = self.paths(out)
        fmt = log_format(paths["log"])
        parent = paths["log"].parent
        if paths["log"].is_dir():
            raise _bad(f"{paths['log']}: is a folder; give --out a file name such as sim.csv")
        ours = _is_simulation(paths["truth"])
        for p in paths.values():
            claim_output(p, ours=lambda _: ours, what="simulated log of simstats (with its truth file)", force=force)
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _bad(f"{paths['log']}: cannot create the folder {parent} ({e.strerror or e})") from None
        temps: dict[str, Path] = {}
        try:
            token = secrets.token_hex(6)      # not mkstemp: the files get the usual permissions
            for key in ("personas", "roles", "truth", "log"):
                temps[key] = parent / f".{paths[key].name}.{token}.tmp"
            for key, frame in (("log", self.rows), ("personas", self.personas)):
                if fmt == "csv":
                    frame.to_csv(temps[key], index=False)
                else:
                    frame.to_parquet(temps[key], index=False)
            temps["truth"].write_text(json.dumps(self.truth, indent=1) + "\n", encoding="utf-8")
            temps["roles"].write_text(self.roles_toml(), encoding="utf-8")
            for key in ("personas", "roles", "truth", "log"):
                os.replace(temps.pop(key), paths[key])
        except OSError as e:
            raise _bad(f"{paths['log']}: cannot write ({e.strerror or e})") from None
        finally:
            for t in temps.values():
                t.unlink(missing_ok=True)
        return paths


def _is_simulation(truth: Path) -> bool:
    """Whether ``truth`` is a simulation's truth file (so the files beside it are a simulation's too)."""
    try:
        return truth.is_file() and json.loads(truth.read_text(encoding="utf-8")).get("format") == TRUTH_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _answer_rows(cells: pd.DataFrame, design: Design) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """One row per answer (design columns and ``answer_id``), each row's design cell, and the ids."""
    row_cell = np.repeat(np.arange(len(cells)), design.answers)
    rows = cells.iloc[row_cell][[*design.levels, "question_id", "question", *design.features]].reset_index(drop=True)
    width = len(str(len(row_cell)))
    ids = [f"a{i:0{width}d}" for i in range(1, len(row_cell) + 1)]
    rows.insert(0, "answer_id", ids)
    return rows, row_cell, ids


def log_format(path: str | Path) -> str:
    """``csv`` or ``parquet`` from a log file's suffix (:class:`SimstatsError` otherwise).

    >>> log_format("runs/sim.parquet")
    'parquet'
    >>> log_format("runs/sim.txt")
    Traceback (most recent call last):
    simstats.errors.SimstatsError: runs/sim.txt: a simulated log is written as CSV or Parquet; name it .csv or .parquet
    """
    fmt = LOG_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise _bad(f"{path}: a simulated log is written as CSV or Parquet; name it .csv or .parquet")
    return fmt


def _template(spec: ModelSpec, design: Design, grids: dict[str, Grid], verdicts: list[str] | None
              ) -> tuple[Patterns, pd.DataFrame]:
    """A pattern table of the design (one placeholder pattern per cell), and the design's cells."""
    conds, prompts = design.condition_table(), design.prompt_table()
    cells = conds.merge(prompts, how="cross")
    upper = list(design.levels[:-1])
    table = cells[[*upper, "condition", "prompt", *design.features]].copy()
    for m in spec.measure_names:
        table[m] = np.int16(MISSING_BIN)
    if verdicts:
        table["verdict"] = "scored"
    table["count"] = np.int64(design.answers)
    n = len(cells) * design.answers
    return Patterns(table, grids, spec.measure_names, list(design.features), upper, verdicts,
                    Accounting(n, n)), cells


def _sharpen(spec: ModelSpec, data, P: dict, draw: dict, rng: np.random.Generator, concentration) -> None:
    """Replace the drawn fingerprints by ones near the anchors (see the module docstring); condition-specific
    fingerprints keep their drawn deviations around the new shared ones."""
    grids = data.patterns.grids
    fps = _draw_fingerprints(spec, grids, rng, concentration)
    names = spec.persona_names
    P["fingerprints"] = {m: {p: [float(x) for x in fp[k]] for k, p in enumerate(names)} for m, fp in fps.items()}
    if "fingerprints_condition" not in P:
        return
    for m, fp in fps.items():
        name = f"fpc_{m}"
        sd, z = float(draw[f"{name}_sd"]), np.asarray(draw[f"{name}_z"])
        lg = np.log(np.clip(fp, 1e-300, None))[None] + sd * z
        lg = np.where(fp[None] > 0, lg, -np.inf)          # a category the fingerprint never emits stays empty
        pc = np.exp(lg - lg.max(-1, keepdims=True))
        pc /= pc.sum(-1, keepdims=True)
        P["fingerprints_condition"][m] = {c: {p: [float(x) for x in pc[j, k]] for k, p in enumerate(names)}
                                          for j, c in enumerate(data.conditions)}


def _check_design(spec: ModelSpec, design: Design) -> None:
    clash = sorted(set(spec.measure_names) & (set(design.levels) | set(design.features) | set(RESERVED_COLUMNS)))
    if clash:
        raise _bad(f"{spec.source}: measure(s) {clash} share a name with a column of the design")
    for lev in spec.hierarchy.levels or ():
        if lev not in design.levels[:-1]:
            raise _bad(f"{spec.source}: hierarchy.levels names {lev!r}, which is not a level above the condition in "
                       f"the design ({list(design.levels[:-1])}); set the design's levels (--levels)")
    for f in spec.prompt.features or ():
        if f not in design.features:
            raise _bad(f"{spec.source}: prompt.features names {f!r}, which the design lacks (features: "
                       f"{list(design.features)}); add it (--features)")


def simulate(spec: ModelSpec | str | Path, truth: dict | str | Path | None = None, design: Design | None = None,
             seed: int | None = None, *, fingerprint_concentration: float | None = 200.0) -> Simulation:
    """Draw a synthetic row-level log from the generative model of ``spec``.

    Parameters come from ``truth`` (a truth dict or file written before: the same parameters, e.g. for another
    seed or more answers) or are one draw of the PyMC model's prior on the design (every hierarchy sd, group
    effect, condition and prompt effect, question effect), with fingerprints near the anchors
    (:func:`~simstats.validation.quick.default_fingerprints` perturbed by a Dirichlet of concentration
    ``fingerprint_concentration``; ``None`` keeps them exact). Groups with a single child hand their variance to
    the child, as in the fitted model.

    Each answer gets a persona from its cell's persona posterior, softmax(eta[c] + x(q) . gamma + xi(c, q) .
    gamma_interaction + u[q]), then each score's category from the persona's fingerprint: category 0 is no score
    (NaN), bin b a real score uniform inside bin b of 0-100 on the spec's bins. A model without personas
    (degradation) draws each score from its cell's score distribution and each verdict from its condition's.
    Parameters and answers use two independent random streams of ``seed``, so ``simulate(spec, truth=sim.truth,
    seed=sim.seed)`` gives the same log again.

    ``truth`` of the result: ``seed``, ``spec`` (name, hash, source), ``design``, ``personas``, ``conditions``,
    ``prompts``, ``notes`` (spec terms the design cannot support), ``shares`` (condition -> persona -> expected
    share over its own prompt mix) and ``parameters`` in the kind's layout (the persona mixture:
    :mod:`simstats.kinds.mixture.truth`, with ``categories`` and ``verdict``), with the names the fitted model
    uses. One persona: every share is 1.

    >>> from simstats.spec import DEFAULT_SPEC_PATH
    >>> sim = simulate(DEFAULT_SPEC_PATH, seed=0)
    >>> len(sim.rows), sim.personas["condition"].nunique()
    (12000, 10)
    >>> sorted(sim.rows.columns)[:4]
    ['aligned', 'answer_id', 'base_model', 'coherent']
    >>> again = simulate(DEFAULT_SPEC_PATH, truth=sim.truth, seed=0)
    >>> again.rows.equals(sim.rows) and again.truth == sim.truth
    True
    """
    if not isinstance(spec, ModelSpec):
        spec = load_spec(spec)
    truth_src = "truth"
    if truth is not None and not isinstance(truth, dict):
        truth_src = str(truth)
        truth = read_truth(truth)
    seed = _seed(seed)
    try:
        if design is None:
            design = Design.from_dict(truth["design"]) if truth is not None else Design()
    except (KeyError, TypeError) as e:
        raise _bad(f"{truth_src}: no usable design in the truth file ({e})") from None
    if not isinstance(design, Design):
        raise _bad(f"design must be a Design, got {type(design).__name__}")
    if fingerprint_concentration is not None and not fingerprint_concentration > 0:
        raise _bad(f"fingerprint_concentration must be > 0 (or None), got {fingerprint_concentration!r}")
    _check_design(spec, design)
    kind = kind_of(spec)
    personas = kind.has_personas
    names, measures = spec.persona_names, spec.measure_names
    grids = {ms.name: Grid(0.0, 100.0, ms.bins or 100) for ms in spec.measures}
    data_grids = {m: Grid(0.0, 100.0, 100 if 100 % g.n_bins == 0 else g.n_bins) for m, g in grids.items()}
    # a model without personas draws verdicts from its own verdict parameters: the template declares them
    if truth is not None:
        model_verdicts = (truth["parameters"].get("verdict") or {}).get("levels") if not personas else None
    else:
        want = True if design.verdicts is None else design.verdicts
        model_verdicts = ["scored", *design.verdict_levels] if (want and not personas) else None
    template, cells = _template(spec, design, grids, model_verdicts)
    data = kind.design(spec, template, observed=False)
    keys = ["condition", "prompt", *data.feature_levels]
    cell_index = pd.MultiIndex.from_frame(data.cells[keys].astype(str)).get_indexer(
        pd.MultiIndex.from_frame(cells[keys].astype(str)))

    ss_params, ss_data = np.random.SeedSequence(seed).spawn(2)
    try:
        if truth is None:
            ss_prior, ss_fp = ss_params.spawn(2)
            draw = kind.prior_draw(spec, data, int(ss_prior.generate_state(1)[0]))
            P = kind.truth(draw, spec, data)
            if personas:
                _sharpen(spec, data, P, draw, np.random.default_rng(ss_fp), fingerprint_concentration)
                P["categories"] = {m: category_labels(grids[m]) for m in measures}
            else:
                P["verdict"] = {"levels": model_verdicts} if model_verdicts else None
        else:
            _check_truth(truth, spec, grids, personas)
            P = json.loads(json.dumps(truth["parameters"]))     # a copy: the parameters pass through unchanged
        em = kind.emissions(kind.truth_arrays(P, spec, data), spec, data)
    except SimstatsError as e:
        raise _bad(f"{truth_src}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise _bad(f"{truth_src}: damaged truth file ({type(e).__name__}: {e})") from None

    verdict = None
    if personas:                              # verdicts consistent with the scores (see _verdict_block)
        no_score_at_all = np.prod([em.tables[m][0][..., 0] for m in measures], axis=0).max() > 0
        want = design.verdicts
        if want is None:
            want = bool((truth is not None and truth["parameters"].get("verdict"))
                        or any(p.verdicts for p in spec.personas) or no_score_at_all)
        if not want and no_score_at_all:
            raise _bad(f"{spec.source}: under this spec an answer can have no score at all, and the logs layer "
                       "excludes such rows unless they have a verdict; simulate with verdicts (--verdicts)")
        if want and not P.get("verdict"):
            P["verdict"] = _verdict_block(spec, design, {m: em.tables[m][0][0] for m in measures})
        elif not want:
            P["verdict"] = None
        verdict = P["verdict"]

    rng = np.random.default_rng(ss_data)
    rows, row_cell, ids = _answer_rows(cells, design)
    data_cell = cell_index[row_cell]
    z = draw_components(em, data_cell, rng)
    cats = {}
    for m in measures:
        cats[m] = draw_categories(em, m, data_cell, z, rng)
        rows[m] = scores_in_bins(rng, cats[m], grids[m], data_grids[m])
    if personas and verdict is not None:
        levels = verdict["levels"][1:]
        probs = np.array([[verdict["given_no_score"][p][lv] for lv in levels] for p in names], dtype=float)
        pick = draw_from_rows(rng, z, probs / probs.sum(1, keepdims=True))
        rows["verdict"] = np.where(cats[verdict["measure"]] == 0, np.array(levels, dtype=object)[pick], "scored")
    elif not personas and model_verdicts:
        rows["verdict"] = np.array(data.verdict_levels, dtype=object)[draw_categories(em, "verdict", data_cell, z,
                                                                                      rng)]
    elif not personas and np.isnan(rows[measures].to_numpy(float)).all(1).any():
        raise _bad(f"{spec.source}: some simulated answers have no score at all, and the logs layer excludes such "
                   "rows unless they have a verdict; simulate with verdicts")
    for c in rows.columns:
        if c not in measures:
            rows[c] = rows[c].astype(str)
    persona = np.array(names, dtype=object)[z] if personas else np.full(len(z), "none", dtype=object)
    personas_table = pd.DataFrame({"answer_id": ids, "condition": cells["condition"].to_numpy()[row_cell],
                                   "persona": persona}).astype(str)
    notes = list(data.notes)
    if not personas:
        notes.append(f"a {kind.name} model: no personas, so no shares")
    elif truth is not None and truth.get("spec", {}).get("hash") != spec.hash():
        notes.append(f"parameters from a truth drawn under another spec (hash {truth['spec']['hash'][:12]}...)")
    shares = {}
    if personas:
        sh = kind.condition_shares(kind.truth_arrays(P, spec, data), data)
        shares = {c: _named(names, sh[j]) for j, c in enumerate(data.conditions)}
    out_truth = {
        "format": TRUTH_FORMAT, "format_version": TRUTH_FORMAT_VERSION, "seed": seed,
        "spec": {"name": spec.name, "hash": spec.hash(), "source": str(spec.source)},
        "design": design.to_dict(), "personas": names, "conditions": data.conditions, "prompts": data.prompts,
        "notes": notes, "shares": shares, "parameters": P,
    }
    has_verdict = (personas and verdict is not None) or bool(not personas and model_verdicts)
    roles = Roles(condition=list(design.levels), prompt="question_id", prompt_regex=design.prompt_regex(),
                  feature_defaults={f: lv[0] for f, lv in design.features.items()},
                  measures=[Measure(m, 0.0, 100.0, data_grids[m].n_bins) for m in measures],
                  verdict="verdict" if has_verdict else None, id="answer_id")
    return Simulation(rows, personas_table, json.loads(json.dumps(out_truth)), design, roles)


__all__ = ["LOG_FORMATS", "TRUTH_FORMAT", "TRUTH_FORMAT_VERSION", "Simulation", "log_format", "read_truth",
           "simulate"]
