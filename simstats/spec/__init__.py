"""Model specs: a declarative TOML file that names a model (DESIGN.md section 4).

A spec declares the model kind, the personas (names, anchors of their fingerprints, prior log-odds), the
measurements and their likelihood family, the coarse bins, the condition hierarchy, the prompt-evidence terms, the
thresholded behaviours counted in reports, the priors and the sampler. :mod:`.schema` holds the data model,
:mod:`.load` reads and validates files, :mod:`.source` writes a spec back in file form.

>>> spec = load_spec(DEFAULT_SPEC_PATH)
>>> spec.persona_names
['aligned', 'misaligned', 'careless', 'code_or_incoherent']
"""

from __future__ import annotations

from pathlib import Path

from simstats.spec.load import load_spec, spec_from_dict
from simstats.spec.schema import (
    KIND_RULES,
    ConditionEffect,
    ConditionSpec,
    FingerprintSpec,
    HierarchySpec,
    Interaction,
    KindRules,
    MeasureSpec,
    ModelSpec,
    PersonaSpec,
    PromptSpec,
    RateSpec,
    SamplerSpec,
)
from simstats.spec.source import spec_source

#: the default persona mixture of a source checkout (the wheel ships ``models/`` as ``simstats/models/``)
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[2] / "models" / "persona_mixture.toml"


def default_spec_path(name: str = "persona_mixture") -> Path:
    """Path of a named spec shipped with simstats: the wheel carries ``models/`` as ``simstats/models/``; a source
    checkout reads the top-level ``models/`` folder.

    >>> default_spec_path("degradation").name
    'degradation.toml'
    """
    from importlib import resources

    packaged = Path(str(resources.files("simstats") / "models" / f"{name}.toml"))
    if packaged.is_file():
        return packaged
    return DEFAULT_SPEC_PATH.with_name(f"{name}.toml")


__all__ = ["DEFAULT_SPEC_PATH", "KIND_RULES", "ConditionEffect", "ConditionSpec", "FingerprintSpec", "HierarchySpec",
           "Interaction", "KindRules", "MeasureSpec", "ModelSpec", "PersonaSpec", "PromptSpec", "RateSpec",
           "SamplerSpec", "default_spec_path", "load_spec", "spec_from_dict", "spec_source"]
