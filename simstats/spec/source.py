"""A spec in spec-file form: the dict :func:`~simstats.spec.spec_from_dict` reads, so that a spec stored with a fit
loads like a file (and hashes as the spec it was fitted with)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from simstats.spec.schema import ModelSpec


def spec_source(spec: ModelSpec) -> dict[str, Any]:
    """The spec in spec-file form (what :func:`~simstats.spec.spec_from_dict` reads).

    >>> from simstats.spec import DEFAULT_SPEC_PATH, load_spec, spec_from_dict
    >>> spec = load_spec(DEFAULT_SPEC_PATH)
    >>> spec_from_dict(spec_source(spec)).hash() == spec.hash()
    True
    """
    d: dict[str, Any] = {"model": {"name": spec.name, "description": spec.description}}
    if spec.kind != "mixture":           # written only when set, like every key added later
        d["model"]["kind"] = spec.kind
    d["personas"] = [{"name": p.name, "description": p.description,
                      "logodds": {"mean": p.logodds[0], "sd": p.logodds[1]},
                      "anchors": {m: {k: v for k, v in asdict(a).items() if v is not None}
                                  for m, a in p.anchors.items()},
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
    if pr.interactions:
        d["prompt"]["interactions"] = [{k: v for k, v in asdict(x).items() if v is not None}
                                       for x in pr.interactions]
    c = spec.conditions
    if c.effects or c.coef_sd != 5.0:
        d["conditions"] = {"coef_sd": c.coef_sd,
                           "effects": {n: {k: v for k, v in asdict(e).items() if v is not None}
                                       for n, e in c.effects.items()}}
    if spec.fingerprints != type(spec.fingerprints)():
        d["fingerprints"] = asdict(spec.fingerprints)
    if spec.behaviours:
        d["behaviours"] = {b.name: b.to_dict() for b in spec.behaviours}
    if spec.rates is not None:
        r = spec.rates
        d["rates"] = {"logodds": {"mean": r.logodds[0], "sd": r.logodds[1]}, "by_prompt": r.by_prompt,
                      **({"behaviour": r.behaviour} if r.behaviour is not None else {})}
    d["priors"] = {"anchor_strength": spec.anchor_strength, "verdict_strength": spec.verdict_strength}
    d["sampler"] = asdict(spec.sampler)
    return d


__all__ = ["spec_source"]
