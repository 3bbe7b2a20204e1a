"""Reading and validating spec files: every key and value is checked, and an error names the file and the key, with
the closest known key on a typo.

>>> spec_from_dict({"model": {"name": "x"}, "persoans": []})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
SpecError: <dict>: unknown key 'persoans' at top level; did you mean 'personas'?
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import Any

from simstats.errors import SpecError
from simstats.families.fingerprints import FAMILIES, TRANSFER_MODES, Anchor
from simstats.spec.schema import (
    KIND_RULES,
    ConditionEffect,
    ConditionSpec,
    FingerprintSpec,
    HierarchySpec,
    Interaction,
    MeasureSpec,
    ModelSpec,
    PersonaSpec,
    PromptSpec,
    RateSpec,
    SamplerSpec,
)
from simstats.theory.rules import Behaviour

_TOP = {"model", "personas", "measures", "verdict", "hierarchy", "prompt", "conditions", "priors", "sampler",
        "fingerprints", "behaviours", "rates"}
_MODEL = {"name", "description", "version", "kind"}
_RATES = {"behaviour", "logodds", "by_prompt"}
_BEHAVIOUR = {"rule", "description"}
_FINGERPRINTS = {"vary", "sigma", "transfer", "source"}
_TRANSFER = {"mode", "table", "concentration", "params"}
_PERSONA = {"name", "description", "logodds", "anchors", "verdicts"}
_LOGODDS = {"mean", "sd"}
_ANCHOR = {"mean", "no_score", "levels"}
_MEASURE = {"likelihood", "bins"}
_VERDICT = {"likelihood"}
_HIER = {"levels", "structure", "sigma", "parametrization", "variance"}
_PROMPT = {"question_effect", "question_sigma", "features", "reference", "coef_sd", "interactions"}
_INTERACTION = {"feature", "column", "coef_sd"}
_CONDITIONS = {"effects", "coef_sd"}
_EFFECT = {"column", "kind", "reference", "width", "degree", "transform"}
_EFFECT_KINDS = {"indicator", "categorical", "numeric", "changepoint", "smooth"}
_PRIORS = {"anchor_strength", "verdict_strength"}
_SAMPLER = {"name", "draws", "tune", "chains", "target_accept", "until", "block", "max_seconds"}
_SAMPLERS = {"nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder"}
MAX_DRAWS, MAX_CHAINS = 10_000_000, 64     # the command line's bounds of --draws / --tune and --chains
#: a measure's most categories: a 0-100 score in steps of 0.01; beyond it every table (K x bins per cell) is memory
#: for nothing, and a simulation of a billion bins asked for gigabytes before failing
MAX_BINS = 10_000


def _check_keys(d: Any, allowed: set[str], where: str, src: str) -> dict:
    if not isinstance(d, dict):
        raise SpecError(f"{src}: {where} must be a table, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(allowed))}"
            raise SpecError(f"{src}: unknown key {k!r} in {where}{hint}")
    return d


def _choice(value: Any, allowed: set[str] | list[str], what: str, src: str) -> str:
    if value not in allowed:
        close = difflib.get_close_matches(str(value), sorted(allowed), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"{src}: {what} = {value!r} is not one of {', '.join(sorted(allowed))}{hint}")
    return value


def _num(value: Any, what: str, src: str, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, integer: bool = False) -> float:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise SpecError(f"{src}: {what} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(f"{src}: {what} must be a finite number, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise SpecError(f"{src}: {what} must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise SpecError(f"{src}: {what} must be <= {hi}, got {value!r}")
    return value


def _data_or_columns(value: Any, what: str, src: str) -> list[str] | None:
    """``"data"`` (take them from the data: ``None``) or a list of column names."""
    if value == "data":
        return None
    if not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
        raise SpecError(f"{src}: {what} must be \"data\" or a list of column names, got {value!r}")
    return value


def _persona(d: Any, i: int, measures: list[str], src: str) -> PersonaSpec:
    where = f"personas[{i}]"
    d = _check_keys(d, _PERSONA, where, src)
    if not isinstance(d.get("name"), str) or not d["name"]:
        raise SpecError(f"{src}: {where} needs a non-empty string 'name'")
    name = d["name"]
    where = f"persona {name!r}"
    lo = _check_keys(d.get("logodds", {}), _LOGODDS, f"{where}.logodds", src)
    mean = _num(lo.get("mean", -2.0), f"{where}.logodds.mean", src)
    sd = _num(lo.get("sd", 2.0), f"{where}.logodds.sd", src, lo=0, lo_open=True)
    anchors_d = _check_keys(d.get("anchors", {}), set(measures), f"{where}.anchors", src)
    anchors: dict[str, Anchor] = {}
    for m in measures:
        if m not in anchors_d:
            raise SpecError(f"{src}: {where} has no anchor for measure {m!r} (add anchors.{m} = {{ mean = ... }})")
        a = _check_keys(anchors_d[m], _ANCHOR, f"{where}.anchors.{m}", src)
        if "mean" not in a and "levels" not in a:
            raise SpecError(f"{src}: {where}.anchors.{m} needs 'mean' (a score's, or a binary outcome's probability "
                            "of yes) or 'levels' (an outcome's probabilities, e.g. { C = 0.8 })")
        levels = a.get("levels")
        if levels is not None:
            if not isinstance(levels, dict) or not levels:
                raise SpecError(f"{src}: {where}.anchors.{m}.levels must be a table of level = probability")
            levels = {str(k): float(_num(v, f"{where}.anchors.{m}.levels.{k}", src, lo=0, hi=1))
                      for k, v in levels.items()}
            if sum(levels.values()) > 1 + 1e-9:
                raise SpecError(f"{src}: {where}.anchors.{m}.levels probabilities sum to more than 1")
        anchors[m] = Anchor(None if "mean" not in a else float(_num(a["mean"], f"{where}.anchors.{m}.mean", src)),
                            float(_num(a.get("no_score", 0.0), f"{where}.anchors.{m}.no_score", src, lo=0, hi=0.99)),
                            levels)
    verdicts = d.get("verdicts", {})
    if not isinstance(verdicts, dict):
        raise SpecError(f"{src}: {where}.verdicts must be a table of level = probability")
    for k, v in verdicts.items():
        _num(v, f"{where}.verdicts.{k}", src, lo=0, hi=1)
    if sum(verdicts.values()) > 1 + 1e-9:
        raise SpecError(f"{src}: {where}.verdicts probabilities sum to more than 1")
    return PersonaSpec(name, anchors, (float(mean), float(sd)), {k: float(v) for k, v in verdicts.items()},
                       str(d.get("description", "")))


def _personas(pers_d: Any, kind: str, measures: list[MeasureSpec], src: str) -> tuple[PersonaSpec, ...]:
    """The personas of a kind that has them (at least one; with one, every condition has the same distribution),
    or none for a kind without (whose measures must then use the likelihoods its :data:`KIND_RULES` entry allows)."""
    rules = KIND_RULES[kind]
    if rules.personas == "forbidden" and pers_d:
        raise SpecError(f"{src}: a {kind} model (model.kind = {kind!r}) has no personas; remove [[personas]]")
    if rules.likelihoods is not None:
        for m in measures:
            if m.likelihood not in rules.likelihoods:
                raise SpecError(f"{src}: measures.{m.name}.likelihood = {m.likelihood!r} does not suit a {kind} "
                                f"model ({rules.description}); use one of {', '.join(sorted(rules.likelihoods))}")
    if rules.personas == "forbidden":
        return ()
    if not isinstance(pers_d, list) or len(pers_d) < 1:
        raise SpecError(f"{src}: [[personas]] must list at least one persona (the first is the reference)")
    personas = tuple(_persona(p, i, [m.name for m in measures], src) for i, p in enumerate(pers_d))
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        raise SpecError(f"{src}: persona names must be unique, got {names}")
    return personas


def _behaviours(value: Any, measures: list[str], src: str) -> tuple[Behaviour, ...]:
    """``[behaviours]``: name = "rule" or name = { rule = "...", description = "..." }; every measure they name
    must be a measure of the spec."""
    value = _check_keys(value, set(value) if isinstance(value, dict) else set(), "[behaviours]", src)
    out = []
    for name, b in value.items():
        if isinstance(b, str):
            b = {"rule": b}
        b = _check_keys(b, _BEHAVIOUR, f"behaviours.{name}", src)
        if "rule" not in b:
            raise SpecError(f"{src}: behaviours.{name} needs a 'rule' such as \"aligned < 30 and coherent > 50\"")
        try:
            behaviour = Behaviour.parse(name, b["rule"], str(b.get("description", "")))
            behaviour.check_measures(measures, "the spec's [measures]")
        except SpecError as e:
            raise SpecError(f"{src}: {e}") from None
        out.append(behaviour)
    return tuple(out)


def _rates(r: Any, kind: str, behaviours: tuple[Behaviour, ...], src: str) -> RateSpec | None:
    if kind != "rates":
        if r:
            raise SpecError(f"{src}: [rates] applies to model.kind = \"rates\" only")
        return None
    r = _check_keys(r, _RATES, "[rates]", src)
    name = r.get("behaviour")
    if name is not None and name not in [b.name for b in behaviours]:
        raise SpecError(f"{src}: rates.behaviour = {name!r} is not declared in [behaviours] "
                        f"({[b.name for b in behaviours] or 'none declared'})")
    lo = _check_keys(r.get("logodds", {}), _LOGODDS, "rates.logodds", src)
    by_prompt = r.get("by_prompt", False)
    if not isinstance(by_prompt, bool):
        raise SpecError(f"{src}: rates.by_prompt must be true or false, got {by_prompt!r}")
    return RateSpec(name, (float(_num(lo.get("mean", 0.0), "rates.logodds.mean", src)),
                           float(_num(lo.get("sd", 2.5), "rates.logodds.sd", src, lo=0, lo_open=True))), by_prompt)


def _interactions(value: Any, src: str) -> tuple[Interaction, ...]:
    """``prompt.interactions``: a list of ``{ feature, column[, coef_sd] }`` tables, at most one per feature."""
    if not isinstance(value, list):
        raise SpecError(f"{src}: prompt.interactions must be a list of tables "
                        "like { feature = \"trigger\", column = \"finetune\" }")
    out = []
    for i, d in enumerate(value):
        where = f"prompt.interactions[{i}]"
        d = _check_keys(d, _INTERACTION, where, src)
        for key in ("feature", "column"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise SpecError(f"{src}: {where} needs a non-empty string {key!r}")
        sd = d.get("coef_sd")
        out.append(Interaction(d["feature"], d["column"],
                               None if sd is None else float(_num(sd, f"{where}.coef_sd", src, lo=0, lo_open=True))))
    feats = [x.feature for x in out]
    if len(set(feats)) != len(feats):
        raise SpecError(f"{src}: prompt.interactions names a feature twice ({feats}); one column per feature")
    return tuple(out)


def _fingerprints(f: Any, kind: str, n_personas: int, measures: dict[str, MeasureSpec], src: str) -> FingerprintSpec:
    f = _check_keys(f, _FINGERPRINTS, "[fingerprints]", src)
    vary = _choice(f.get("vary", "shared"), {"shared", "condition"}, "fingerprints.vary", src)
    if vary != "shared" and not KIND_RULES[kind].fingerprints_vary:
        raise SpecError(f"{src}: fingerprints.vary = {vary!r} needs personas (model.kind = \"mixture\")")
    sigma = float(_num(f.get("sigma", 0.5), "fingerprints.sigma", src, lo=0, lo_open=True))
    transfer = {m: _transfer(t, f"fingerprints.transfer.{m}", n_personas, measures.get(m), src)
                for m, t in _check_keys(f.get("transfer", {}), {*measures, "verdict"}, "fingerprints.transfer",
                                        src).items()}
    source = f.get("source", {})
    if not isinstance(source, dict) or not all(isinstance(v, str) for v in source.values()):
        raise SpecError(f"{src}: fingerprints.source must be a table of strings (the source fit's hashes)")
    return FingerprintSpec(vary, sigma, transfer, dict(source))


def _matrix(value: Any, rows: int, what: str, src: str, *, positive: bool = False) -> list[list[float]]:
    """A (rows, n) table of finite numbers, each row with the same length (``positive``: every entry > 0)."""
    if (not isinstance(value, (list, tuple)) or len(value) != rows
            or not all(isinstance(r, (list, tuple)) and r for r in value)):
        raise SpecError(f"{src}: {what} must be a list of {rows} lists of numbers (one per persona)")
    if len({len(r) for r in value}) != 1:
        raise SpecError(f"{src}: {what}: every persona's row must have the same length")
    out = [[float(_num(x, what, src, lo=0 if positive else None)) for x in r] for r in value]
    if positive and any(x <= 0 for r in out for x in r):
        raise SpecError(f"{src}: {what} must be positive")
    return out


def _vector(value: Any, n: int, what: str, src: str, *, lo: float | None = None) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise SpecError(f"{src}: {what} must be a list of {n} numbers (one per persona)")
    return [float(_num(x, what, src, lo=lo, lo_open=lo is not None)) for x in value]


def _transfer(t: Any, where: str, n_personas: int, measure: MeasureSpec | None, src: str) -> dict:
    """One measure's transferred fingerprint posterior (see :func:`simstats.families.fingerprints.transfer_of`)."""
    t = _check_keys(t, _TRANSFER, where, src)
    out: dict[str, Any] = {"mode": _choice(t.get("mode", "prior"), set(TRANSFER_MODES), f"{where}.mode", src),
                           "table": _matrix(t.get("table"), n_personas, f"{where}.table", src, positive=True),
                           "concentration": _vector(t.get("concentration"), n_personas, f"{where}.concentration",
                                                    src, lo=0)}
    needed = FAMILIES[measure.likelihood].params if measure is not None else ()
    params = _check_keys(t.get("params", {}), set(needed), f"{where}.params", src)
    if set(params) != set(needed):
        raise SpecError(f"{src}: {where}.params must give {list(needed) or 'nothing'} "
                        f"(the free parameters of {measure.likelihood if measure else 'the verdict'})")
    if params:
        out["params"] = {p: {"mean": _vector(_check_keys(v, {"mean", "sd"}, f"{where}.params.{p}", src).get("mean"),
                                             n_personas, f"{where}.params.{p}.mean", src),
                             "sd": _vector(v.get("sd"), n_personas, f"{where}.params.{p}.sd", src, lo=0)}
                         for p, v in params.items()}
    return out


def spec_from_dict(d: dict[str, Any], source: str = "<dict>") -> ModelSpec:
    """Validate a spec given as a dict (the parsed TOML) and build the :class:`ModelSpec`."""
    src = source
    d = _check_keys(d, _TOP, "top level", src)
    model = _check_keys(d.get("model", {}), _MODEL, "[model]", src)
    name = model.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{src}: [model] needs a non-empty string 'name'")

    meas_d = d.get("measures")
    if not isinstance(meas_d, dict) or not meas_d:
        raise SpecError(f"{src}: [measures] must declare at least one measure, e.g. [measures.aligned]")
    measures = []
    for m, md in meas_d.items():
        md = _check_keys(md, _MEASURE, f"[measures.{m}]", src)
        fam = _choice(md.get("likelihood", "categorical"), set(FAMILIES), f"measures.{m}.likelihood", src)
        bins = md.get("bins", 10)
        if bins is not None and bins != "data":
            bins = int(_num(bins, f"measures.{m}.bins", src, lo=1, hi=MAX_BINS, integer=True))
        measures.append(MeasureSpec(m, fam, None if bins == "data" else bins))

    model_kind = _choice(model.get("kind", "mixture"), set(KIND_RULES), "model.kind", src)
    personas = _personas(d.get("personas"), model_kind, measures, src)
    verdict = _check_keys(d.get("verdict", {}), _VERDICT, "[verdict]", src)
    vlik = _choice(verdict.get("likelihood", "categorical"), {"categorical"}, "verdict.likelihood", src)

    h = _check_keys(d.get("hierarchy", {}), _HIER, "[hierarchy]", src)
    levels = _data_or_columns(h.get("levels", "data"), "hierarchy.levels", src)
    hier = HierarchySpec(None if levels is None else tuple(levels),
                         _choice(h.get("structure", "nested"), {"nested", "crossed"}, "hierarchy.structure", src),
                         float(_num(h.get("sigma", 1.0), "hierarchy.sigma", src, lo=0, lo_open=True)),
                         _choice(h.get("parametrization", "noncentred"), {"noncentred", "centred", "mixed", "adaptive"},
                                 "hierarchy.parametrization", src),
                         _choice(h.get("variance", "independent"), {"independent", "decomposed"},
                                 "hierarchy.variance", src))

    p = _check_keys(d.get("prompt", {}), _PROMPT, "[prompt]", src)
    feats = _data_or_columns(p.get("features", "data"), "prompt.features", src)
    ref = p.get("reference", {})
    if not isinstance(ref, dict) or not all(isinstance(v, str) for v in ref.values()):
        raise SpecError(f"{src}: prompt.reference must be a table of feature = \"level\"")
    prompt = PromptSpec(_choice(p.get("question_effect", "zerosum"), {"zerosum", "normal", "none"},
                                "prompt.question_effect", src),
                        float(_num(p.get("question_sigma", 1.0), "prompt.question_sigma", src, lo=0, lo_open=True)),
                        None if feats is None else tuple(feats), dict(ref),
                        float(_num(p.get("coef_sd", 1.0), "prompt.coef_sd", src, lo=0, lo_open=True)),
                        _interactions(p.get("interactions", []), src))

    c = _check_keys(d.get("conditions", {}), _CONDITIONS, "[conditions]", src)
    effects = {}
    effects_d = c.get("effects", {})
    for effect, e in _check_keys(effects_d, set(effects_d) if isinstance(effects_d, dict) else set(),
                                 "conditions.effects", src).items():
        where = f"conditions.effects.{effect}"
        e = _check_keys(e, _EFFECT, where, src)
        if not isinstance(e.get("column"), str):
            raise SpecError(f"{src}: {where} needs a string 'column' (a condition-level column of the data)")
        kind = _choice(e.get("kind", "indicator"), _EFFECT_KINDS, f"{where}.kind", src)
        ref = e.get("reference")
        numeric = kind in ("numeric", "changepoint", "smooth")
        if kind == "indicator" and not isinstance(ref, str):
            raise SpecError(f"{src}: {where} (kind {kind}) needs a string 'reference' (the value coded 0)")
        if kind == "categorical" and ref is not None and not isinstance(ref, str):
            raise SpecError(f"{src}: {where}.reference must be a string (the value coded 0), or left out to take "
                            "the value with the most answers")
        if numeric and ref is not None:
            raise SpecError(f"{src}: {where} is {kind} and takes no 'reference'")
        width = degree = None
        if "width" in e:
            if kind != "changepoint":
                raise SpecError(f"{src}: {where}.width applies to kind \"changepoint\" only")
            width = float(_num(e["width"], f"{where}.width", src, lo=0, lo_open=True, hi=0.5))
        if "degree" in e:
            if kind != "smooth":
                raise SpecError(f"{src}: {where}.degree applies to kind \"smooth\" only")
            degree = int(_num(e["degree"], f"{where}.degree", src, lo=1, hi=6, integer=True))
        transform = None
        if "transform" in e:
            if not numeric:
                raise SpecError(f"{src}: {where}.transform applies to the numeric, changepoint and smooth kinds "
                                "only")
            transform = _choice(e["transform"], {"log"}, f"{where}.transform", src)
        effects[effect] = ConditionEffect(e["column"], kind, ref, width, degree, transform)
    # one order for one hash: the hash ignores key order, so the model (its coefficient order) must too
    conditions = ConditionSpec(dict(sorted(effects.items())), float(_num(c.get("coef_sd", 5.0), "conditions.coef_sd", src, lo=0,
                                                   lo_open=True)))

    fingerprints = _fingerprints(d.get("fingerprints", {}), model_kind, len(personas), {m.name: m for m in measures},
                                 src)
    behaviours = _behaviours(d.get("behaviours", {}), [m.name for m in measures], src)
    pr = _check_keys(d.get("priors", {}), _PRIORS, "[priors]", src)
    s = _check_keys(d.get("sampler", {}), _SAMPLER, "[sampler]", src)
    sampler = SamplerSpec(_choice(s.get("name", "nutpie"), _SAMPLERS, "sampler.name", src),
                          int(_num(s.get("draws", 1000), "sampler.draws", src, lo=1, hi=MAX_DRAWS, integer=True)),
                          int(_num(s.get("tune", 1000), "sampler.tune", src, lo=0, hi=MAX_DRAWS, integer=True)),
                          int(_num(s.get("chains", 4), "sampler.chains", src, lo=1, hi=MAX_CHAINS, integer=True)),
                          float(_num(s.get("target_accept", 0.8), "sampler.target_accept", src, lo=0.5, hi=0.999)),
                          _choice(s.get("until", "gate"), {"gate", "draws"}, "sampler.until", src),
                          int(_num(s.get("block", 200), "sampler.block", src, lo=10, hi=MAX_DRAWS, integer=True)),
                          float(_num(s.get("max_seconds", 0.0), "sampler.max_seconds", src, lo=0)))
    return ModelSpec(
        name=name, personas=personas, measures=tuple(measures), hierarchy=hier, prompt=prompt,
        conditions=conditions, verdict_likelihood=vlik,
        anchor_strength=float(_num(pr.get("anchor_strength", 10.0), "priors.anchor_strength", src, lo=0)),
        verdict_strength=float(_num(pr.get("verdict_strength", 10.0), "priors.verdict_strength", src, lo=0)),
        sampler=sampler, description=str(model.get("description", "")), source=src, kind=model_kind,
        fingerprints=fingerprints, behaviours=behaviours,
        rates=_rates(d.get("rates", {}), model_kind, behaviours, src))


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a TOML spec file."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a spec file (give a .toml file such as models/persona_mixture.toml)")
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")       # a byte-order mark is allowed
    except OSError as e:                                     # no permission, a file that vanished
        raise SpecError(f"{path}: cannot read the spec file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a UTF-8 text file (byte {e.start}: {e.reason}); save the spec as UTF-8 TOML") \
            from None
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    return spec_from_dict(d, source=str(path))


__all__ = ["load_spec", "spec_from_dict"]
