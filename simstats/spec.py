"""Model specs: a declarative TOML file that names a persona model (DESIGN.md section 4).

A spec declares the personas (names, anchors of their fingerprints, prior log-odds), the measurements and their
likelihood family, the coarse bins, the condition hierarchy, the prompt-evidence terms and the priors. Loading
validates every key and value and raises :class:`~simstats.errors.SpecError` naming the file and the key, with the
closest known key on a typo.

>>> spec = load_spec("models/persona_mixture.toml")          # doctest: +SKIP
>>> [p.name for p in spec.personas]                           # doctest: +SKIP
['aligned', 'misaligned', 'code_or_incoherent']
>>> spec_from_dict({"model": {"name": "x"}, "persoans": []})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
SpecError: <dict>: unknown key 'persoans' at top level; did you mean 'personas'?
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simstats.errors import SpecError
from simstats.likelihoods import FAMILIES, Anchor

_TOP = {"model", "personas", "measures", "verdict", "hierarchy", "prompt", "conditions", "priors", "sampler",
        "fingerprints"}
_MODEL = {"name", "description", "version", "kind"}
_KINDS = {"mixture", "degradation"}
_FINGERPRINTS = {"vary", "sigma"}
_PERSONA = {"name", "description", "logodds", "anchors", "verdicts"}
_LOGODDS = {"mean", "sd"}
_ANCHOR = {"mean", "no_score"}
_MEASURE = {"likelihood", "bins"}
_VERDICT = {"likelihood"}
_HIER = {"levels", "structure", "sigma", "parametrization", "variance"}
_PROMPT = {"question_effect", "question_sigma", "features", "reference", "coef_sd", "interactions"}
_INTERACTION = {"feature", "column", "coef_sd"}
_CONDITIONS = {"effects", "coef_sd"}
_EFFECT = {"column", "kind", "reference", "width", "degree"}
_EFFECT_KINDS = {"indicator", "categorical", "numeric", "changepoint", "smooth"}
_PRIORS = {"anchor_strength", "verdict_strength"}
_SAMPLER = {"name", "draws", "tune", "chains", "target_accept"}
_SAMPLERS = {"nutpie", "pymc", "numpyro", "blackjax", "advi", "pathfinder"}


#: (section, key, default) of spec keys added after the first saved results (see ``ModelSpec.to_dict``)
_ADDED_LATER = [("hierarchy", "variance", "independent"), ("conditions", "effects", {}),
                ("conditions", "coef_sd", 5.0), ("fingerprints", "vary", "shared"), ("fingerprints", "sigma", 0.5),
                ("prompt", "interactions", ())]
#: (section, key, default) of keys inside each ``[conditions] effects.<name>`` table added later
_EFFECT_ADDED_LATER = [("width", None), ("degree", None)]
#: (key, default) of top-level ``ModelSpec`` fields added later (left out of ``to_dict`` at their default)
_ADDED_LATER_TOP = [("kind", "mixture")]


@dataclass(frozen=True)
class PersonaSpec:
    """One named persona. ``logodds`` is the prior (mean, sd) of its population log-odds vs the first persona."""

    name: str
    anchors: dict[str, Anchor]
    logodds: tuple[float, float] = (-2.0, 2.0)
    verdicts: dict[str, float] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class MeasureSpec:
    """One judge score: its fingerprint family and coarse bin count (``None`` keeps the data's grid)."""

    name: str
    likelihood: str = "categorical"
    bins: int | None = 10


@dataclass(frozen=True)
class HierarchySpec:
    """Partial pooling of persona log-odds over conditions.

    ``levels``: condition-level columns coarsest first (``None`` = those the data declares); ``structure``:
    ``nested`` (a group is its path, e.g. base_model/finetune) or ``crossed`` (a group is the level's value);
    ``sigma``: HalfNormal scale of every level's standard deviation (the condition level included);
    ``parametrization`` of every level: ``centred`` (``eta_g ~ Normal(parent, sd)``; best when every condition
    has hundreds of answers, as in EM logs, so that the data pin each condition's log-odds) or ``noncentred``
    (``eta_g = parent + sd * z``; best when conditions carry little data) or ``mixed`` (the condition level
    centred, the levels above it, with few groups whose sd the data barely fix, non-centred) or ``adaptive`` (as
    ``mixed``, but a condition's log-odds of a persona is centred only where the EM start expects at least 10 of
    its answers from that persona: a persona nearly absent from a condition is only bounded by the data, and the
    centred form would make a funnel with the condition sd; see ``builders.adaptive_centring``). A group with a single child (e.g. a
    fine-tune with one run) has no effect of its own: its variance is handed to its child, an exact
    reparametrisation that removes a ridge the sampler cannot cross quickly (see
    ``builders._collapse_single_child_groups``). ``variance``: ``independent`` (each level's sd ~
    HalfNormal(sigma)) or ``decomposed`` (per persona a total sd ~ HalfNormal(sigma * sqrt(levels + 1)) split over
    the levels by a Dirichlet(1, ..., 1) share of its variance: the same expected total variance, but a level that
    the data barely inform, such as six base models, moves on a bounded simplex instead of an unbounded sd).
    """

    levels: tuple[str, ...] | None = None
    structure: str = "nested"
    sigma: float = 1.0
    parametrization: str = "noncentred"
    variance: str = "independent"


@dataclass(frozen=True)
class Interaction:
    """A prompt feature whose effect on the persona log-odds differs by a condition-level column (a trigger or
    backdoor that moves only some fine-tunes).

    For every non-reference level ``v`` of ``feature`` and every value ``w`` of ``column`` (a condition-level
    column, or ``"condition"`` itself) one coefficient vector over the non-reference personas,
    ``gamma_interaction[v:w] ~ Normal(0, coef_sd)`` (``coef_sd`` ``None``: the prompt's ``coef_sd``), named
    ``<feature>[<v>]:<column>[<w>]``. It replaces the feature's main effect (``gamma``), which would be their sum
    and only add a ridge: the feature's effect in a condition is the coefficient of that condition's value.
    """

    feature: str
    column: str
    coef_sd: float | None = None


@dataclass(frozen=True)
class PromptSpec:
    """Prompt evidence: a per-question effect (``zerosum`` | ``normal`` | ``none``) and prompt-feature effects.

    ``features``: which prompt features enter (``None`` = all the data declares); ``reference``: the reference
    level of a feature (default its most common level, ties broken alphabetically); ``coef_sd``: Normal prior sd
    of a feature coefficient; ``interactions``: features whose effect varies with a condition column
    (:class:`Interaction`), at most one per feature.
    """

    question_effect: str = "zerosum"
    question_sigma: float = 1.0
    features: tuple[str, ...] | None = None
    reference: dict[str, str] = field(default_factory=dict)
    coef_sd: float = 1.0
    interactions: tuple[Interaction, ...] = ()


@dataclass(frozen=True)
class ConditionEffect:
    """A fixed effect of a condition-level column on the persona log-odds.

    ``kind = "indicator"``: 1 where ``column`` differs from ``reference`` (e.g. fine-tuned vs the base model);
    ``kind = "categorical"``: one indicator per value of ``column`` other than ``reference`` (e.g. one effect per
    fine-tuning data set, the base model's "none" as reference), named ``<effect>[<value>]``; without a
    ``reference`` the value with the most answers is the reference (ties: the first by name), so one spec serves
    logs of different base models;
    ``kind = "numeric"``: the column's value as a number, centred and scaled by its sd over the conditions;
    ``kind = "changepoint"``: a smoothed step of unknown location (a phase transition in a dose such as LoRA rank,
    data size or training step): with ``r = (x - min) / (max - min)`` the value rescaled to [0, 1] over the
    conditions, the column is ``sigmoid((r - tau) / width)``, ``tau ~ Uniform(0, 1)`` (one location per effect,
    shared by the personas; ``width`` a fixed fraction of the range, default 0.05, so that NUTS can move ``tau``),
    and its coefficient is the step's height per persona;
    ``kind = "smooth"``: a polynomial of ``degree`` (default 3) in the standardised value, as ``degree``
    orthonormal columns (``<effect>[1]``, ...; QR of the Vandermonde matrix over the conditions), each with its
    own coefficient: a smooth dose-response curve.
    """

    column: str
    kind: str = "indicator"
    reference: str | None = None
    width: float | None = None
    degree: int | None = None


@dataclass(frozen=True)
class ConditionSpec:
    """Fixed effects of condition features (Simulator Theory: fine-tuning moves the prior over personas).

    ``effects``: name -> :class:`ConditionEffect`; an effect whose column or reference value the data lack, or that
    is the same for every condition, is left out of the model with a note (so one spec serves many logs).
    ``coef_sd``: Normal prior sd of each coefficient (log-odds per unit).
    """

    effects: dict[str, ConditionEffect] = field(default_factory=dict)
    coef_sd: float = 5.0


@dataclass(frozen=True)
class FingerprintSpec:
    """Whether persona fingerprints are shared by every condition (``vary = "shared"``, the persona mixture) or
    may differ by condition (``vary = "condition"``: fine-tuning invents new personas instead of re-weighting shared
    ones). With ``condition``, the fingerprint of persona k in condition c is::

        log fp[c, k, :] = log_softmax(log fp[k, :] + sd_m * z[c, k, :]),   z ~ Normal(0, 1),  sd_m ~ HalfNormal(sigma)

    one ``sd_m`` per measure (non-centred); the shared ``fp[k]`` keeps its anchored prior, so the labels hold.
    """

    vary: str = "shared"
    sigma: float = 0.5


@dataclass(frozen=True)
class SamplerSpec:
    """Default sampler settings (``fit`` arguments override them)."""

    name: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8


@dataclass(frozen=True)
class ModelSpec:
    """A validated persona-model spec. Build one with :func:`load_spec` or :func:`spec_from_dict`.

    ``kind``: ``"mixture"`` (the persona mixture, K >= 1 personas) or ``"degradation"`` (no personas: one binned
    bounded distribution, logit-normal or Beta, per measure and condition whose location and spread shift with the
    condition; see :mod:`simstats.degradation`).
    """

    name: str
    personas: tuple[PersonaSpec, ...]
    measures: tuple[MeasureSpec, ...]
    hierarchy: HierarchySpec = HierarchySpec()
    prompt: PromptSpec = PromptSpec()
    conditions: ConditionSpec = ConditionSpec()
    verdict_likelihood: str = "categorical"
    anchor_strength: float = 10.0
    verdict_strength: float = 10.0
    sampler: SamplerSpec = SamplerSpec()
    description: str = ""
    source: str = "<dict>"
    kind: str = "mixture"
    fingerprints: FingerprintSpec = FingerprintSpec()

    @property
    def persona_names(self) -> list[str]:
        return [p.name for p in self.personas]

    @property
    def measure_names(self) -> list[str]:
        return [m.name for m in self.measures]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (stored with fits)."""
        d = asdict(self)
        d.pop("source")
        for key, default in _ADDED_LATER_TOP:
            if d.get(key) == default:
                d.pop(key)
        # keys added after results were first saved are left out at their default, so older results still match
        # their stored hash
        for section, key, default in _ADDED_LATER:
            if d[section].get(key) == default:
                d[section].pop(key)
        for e in d.get("conditions", {}).get("effects", {}).values():
            for key, default in _EFFECT_ADDED_LATER:
                if e.get(key, default) == default:
                    e.pop(key, None)
        for section in {s for s, _, _ in _ADDED_LATER}:
            if not d[section]:          # a section added later, at its defaults
                d.pop(section)
        return json.loads(json.dumps(d, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else o))

    def hash(self) -> str:
        """SHA-256 of :meth:`to_dict` (key order independent)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------- validation
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
        if "mean" not in a:
            raise SpecError(f"{src}: {where}.anchors.{m} needs 'mean'")
        anchors[m] = Anchor(float(_num(a["mean"], f"{where}.anchors.{m}.mean", src)),
                            float(_num(a.get("no_score", 0.0), f"{where}.anchors.{m}.no_score", src, lo=0, hi=0.99)))
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
    """The personas of a mixture (at least one; with one, every condition has the same distribution), or none for
    a degradation model (whose scores must then be binned logit-normal or Beta: it has no categorical
    fingerprints)."""
    if kind == "degradation":
        if pers_d:
            raise SpecError(f"{src}: a degradation model (model.kind = \"degradation\") has no personas; remove "
                            "[[personas]]")
        for m in measures:
            if m.likelihood not in ("binned_logit_normal", "binned_beta"):
                raise SpecError(f"{src}: measures.{m.name}.likelihood = {m.likelihood!r}: a degradation model's "
                                "scores are one bounded distribution per condition; set likelihood = "
                                "\"binned_logit_normal\" (or \"binned_beta\")")
        return ()
    if not isinstance(pers_d, list) or len(pers_d) < 1:
        raise SpecError(f"{src}: [[personas]] must list at least one persona (the first is the reference)")
    personas = tuple(_persona(p, i, [m.name for m in measures], src) for i, p in enumerate(pers_d))
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        raise SpecError(f"{src}: persona names must be unique, got {names}")
    return personas


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


def _fingerprints(f: Any, kind: str, src: str) -> FingerprintSpec:
    f = _check_keys(f, _FINGERPRINTS, "[fingerprints]", src)
    vary = _choice(f.get("vary", "shared"), {"shared", "condition"}, "fingerprints.vary", src)
    if vary != "shared" and kind != "mixture":
        raise SpecError(f"{src}: fingerprints.vary = {vary!r} needs personas (model.kind = \"mixture\")")
    return FingerprintSpec(vary, float(_num(f.get("sigma", 0.5), "fingerprints.sigma", src, lo=0, lo_open=True)))


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
            bins = int(_num(bins, f"measures.{m}.bins", src, lo=1, integer=True))
        measures.append(MeasureSpec(m, fam, None if bins == "data" else bins))

    model_kind = _choice(model.get("kind", "mixture"), _KINDS, "model.kind", src)
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
    for effect, e in _check_keys(c.get("effects", {}), set(c.get("effects", {}) or {}), "conditions.effects",
                                 src).items():
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
        effects[effect] = ConditionEffect(e["column"], kind, ref, width, degree)
    # one order for one hash: the hash ignores key order, so the model (its coefficient order) must too
    conditions = ConditionSpec(dict(sorted(effects.items())), float(_num(c.get("coef_sd", 5.0), "conditions.coef_sd", src, lo=0,
                                                   lo_open=True)))

    fingerprints = _fingerprints(d.get("fingerprints", {}), model_kind, src)
    pr = _check_keys(d.get("priors", {}), _PRIORS, "[priors]", src)
    s = _check_keys(d.get("sampler", {}), _SAMPLER, "[sampler]", src)
    sampler = SamplerSpec(_choice(s.get("name", "nutpie"), _SAMPLERS, "sampler.name", src),
                          int(_num(s.get("draws", 1000), "sampler.draws", src, lo=1, integer=True)),
                          int(_num(s.get("tune", 1000), "sampler.tune", src, lo=0, integer=True)),
                          int(_num(s.get("chains", 4), "sampler.chains", src, lo=1, integer=True)),
                          float(_num(s.get("target_accept", 0.8), "sampler.target_accept", src, lo=0.5, hi=0.999)))
    return ModelSpec(
        name=name, personas=personas, measures=tuple(measures), hierarchy=hier, prompt=prompt,
        conditions=conditions, verdict_likelihood=vlik,
        anchor_strength=float(_num(pr.get("anchor_strength", 10.0), "priors.anchor_strength", src, lo=0)),
        verdict_strength=float(_num(pr.get("verdict_strength", 10.0), "priors.verdict_strength", src, lo=0)),
        sampler=sampler, description=str(model.get("description", "")), source=src, kind=model_kind,
        fingerprints=fingerprints)


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a TOML spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    return spec_from_dict(d, source=str(path))


DEFAULT_SPEC_PATH = Path(__file__).resolve().parent.parent / "models" / "persona_mixture.toml"

__all__ = ["DEFAULT_SPEC_PATH", "ConditionEffect", "ConditionSpec", "FingerprintSpec", "HierarchySpec", "Interaction", "MeasureSpec", "ModelSpec", "PersonaSpec", "PromptSpec",
           "SamplerSpec", "load_spec", "spec_from_dict"]
