"""The data model of a spec: frozen dataclasses, one per table of a spec file (see :mod:`simstats.spec`), and the
spec's hash.

Keys added after the first results were saved are left out of :meth:`ModelSpec.to_dict` at their default, so that
a spec hashes as it did before they existed and stored results still load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from simstats.errors import SpecError
from simstats.families.fingerprints import Anchor
from simstats.theory.rules import Behaviour

#: (section, key, default) of spec keys added after the first saved results (see ``ModelSpec.to_dict``)
_ADDED_LATER = [("hierarchy", "variance", "independent"), ("conditions", "effects", {}),
                ("conditions", "coef_sd", 5.0), ("fingerprints", "vary", "shared"), ("fingerprints", "sigma", 0.5),
                ("prompt", "interactions", ()), ("fingerprints", "transfer", {}), ("fingerprints", "source", {}),
                ("sampler", "until", "gate"), ("sampler", "block", 200), ("sampler", "max_seconds", 0.0)]
#: (section, key, default) of keys inside each ``[conditions] effects.<name>`` table added later
_EFFECT_ADDED_LATER = [("width", None), ("degree", None), ("transform", None)]
#: (key, default) of top-level ``ModelSpec`` fields added later (left out of ``to_dict`` at their default)
_ADDED_LATER_TOP = [("kind", "mixture"), ("behaviours", []), ("rates", None)]



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
    """A fixed effect of a condition-level column on the persona log-odds; ``column = "condition"`` is the
    condition itself (with ``kind = "categorical"``: one effect per condition other than the reference, the
    checkpoints' shares unpooled, whatever columns the roles build the condition from).

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
    ``transform = "log"`` (numeric, changepoint and smooth kinds): the dose enters as its natural log (every value
    must be positive), for doses that grow by factors, such as LoRA rank 1, 4, 16, 64 or data size; a change
    point's location is still reported on the column's own scale.
    """

    column: str
    kind: str = "indicator"
    reference: str | None = None
    width: float | None = None
    degree: int | None = None
    transform: str | None = None


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

    ``transfer``: measure (or ``"verdict"``) -> an earlier fit's posterior of its fingerprints, the prior of this
    one (``mode = "prior"``) or held fixed (``mode = "fixed"``), as built by
    :func:`simstats.families.fingerprints.transfer_of`; ``source``: the spec and data hashes of that fit. Made by
    ``simstats fit --fingerprints-from RUN`` (:mod:`simstats.results.transfer`), not usually written by hand.
    """

    vary: str = "shared"
    sigma: float = 0.5
    transfer: dict[str, dict] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerSpec:
    """Default sampler settings (``fit`` arguments override them).

    ``until = "gate"`` (the default): after warm-up, nutpie draws in blocks of ``block`` draws per chain until every
    parameter passes the convergence gate (R-hat <= 1.01, bulk and tail ESS >= 400) or ``draws`` (then a budget
    per chain) or ``max_seconds`` (0: no time limit) is spent. ``until = "draws"``: exactly ``draws`` per chain.
    """

    name: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8
    until: str = "gate"
    block: int = 200
    max_seconds: float = 0.0


@dataclass(frozen=True)
class RateSpec:
    """The classic rate model (``[model] kind = "rates"``): a hierarchical binomial on the counts of answers that
    meet one thresholded behaviour (``behaviour``: a name from ``[behaviours]``, ``None`` for the first declared).

    ``logodds``: Normal (mean, sd) prior of the population log-odds of the rate; ``by_prompt``: add crossed prompt
    effects and a (condition, prompt) cell effect. Each level's sd is HalfNormal(``hierarchy.sigma``).
    """

    behaviour: str | None = None
    logodds: tuple[float, float] = (0.0, 2.5)
    by_prompt: bool = False


#: the model kinds a spec can name, with what each asks of the rest of the spec (see :class:`KindRules`)
@dataclass(frozen=True)
class KindRules:
    """What a model kind needs from a spec: personas ``"required"`` or ``"forbidden"``, and the fingerprint or score
    likelihoods its measures may use (``None``: any)."""

    personas: str
    likelihoods: frozenset[str] | None = None
    fingerprints_vary: bool = False
    description: str = ""


KIND_RULES: dict[str, KindRules] = {
    "mixture": KindRules("required", None, True, "the persona mixture (K >= 1 personas)"),
    "degradation": KindRules("forbidden", frozenset({"binned_logit_normal", "binned_beta"}), False,
                             "no personas: one bounded score distribution per measure and condition"),
    "rates": KindRules("forbidden", None, False,
                       "the classic rate model: a hierarchical binomial on a thresholded behaviour's counts"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec. Build one with :func:`~simstats.spec.load_spec` or
    :func:`~simstats.spec.spec_from_dict`.

    ``kind``: a key of :data:`KIND_RULES`: ``"mixture"`` (the persona mixture, K >= 1 personas), ``"degradation"``
    (no personas: one binned bounded distribution, logit-normal or Beta, per measure and condition whose location and
    spread shift with the condition; see :mod:`simstats.kinds.degradation`) or ``"rates"`` (the classic rate model,
    :mod:`simstats.kinds.rates`). ``behaviours``: thresholded behaviours counted in reports
    (:class:`~simstats.theory.rules.Behaviour`).
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
    behaviours: tuple[Behaviour, ...] = ()
    rates: RateSpec | None = None

    @property
    def persona_names(self) -> list[str]:
        return [p.name for p in self.personas]

    @property
    def measure_names(self) -> list[str]:
        return [m.name for m in self.measures]

    def behaviour(self, name: str | None = None) -> Behaviour | None:
        """The declared behaviour called ``name`` (``None``: the first declared, or ``None`` when there is none)."""
        if name is None:
            return self.behaviours[0] if self.behaviours else None
        for b in self.behaviours:
            if b.name == name:
                return b
        raise SpecError(f"{self.source}: no behaviour {name!r} (declared: {[b.name for b in self.behaviours]})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (stored with fits)."""
        d = asdict(self)
        d.pop("source")
        d["behaviours"] = [{"name": b.name, **b.to_dict()} for b in self.behaviours]
        for p in d["personas"]:                 # an anchor's levels were added later: left out when unset
            for a in p["anchors"].values():
                if a.get("levels") is None:
                    a.pop("levels", None)
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
        """SHA-256 of :meth:`to_dict` (key order independent) without the behaviours: they say what reports count,
        not what is fitted, so declaring one leaves the model, and the hash its results are stored under, as is."""
        d = self.to_dict()
        d.pop("behaviours", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


__all__ = ["KIND_RULES", "ConditionEffect", "ConditionSpec", "FingerprintSpec", "HierarchySpec", "Interaction",
           "KindRules", "MeasureSpec", "ModelSpec", "PersonaSpec", "PromptSpec", "RateSpec", "SamplerSpec"]
