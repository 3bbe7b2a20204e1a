"""Dimension names of the models' variables (the labelled dims of a fit's posterior)."""

from __future__ import annotations

PERSONA = "persona"
PERSONA_FREE = "persona_free"         # every persona but the reference (whose log-odds are 0)
CONDITION = "condition"
PROMPT = "prompt"
COEF = "coef"                         # prompt-feature coefficients, "feature[level]"
CONDITION_COEF = "condition_coef"     # condition-effect coefficients
INTERACTION = "interaction"           # prompt feature x condition column coefficients
LEVEL = "hierarchy_level"


def category_dim(measure: str) -> str:
    """Name of the category dimension of a measure's fingerprint (``<measure>_bin``).

    >>> category_dim("aligned")
    'aligned_bin'
    """
    return f"{measure}_bin"


__all__ = ["COEF", "CONDITION", "CONDITION_COEF", "INTERACTION", "LEVEL", "PERSONA", "PERSONA_FREE", "PROMPT",
           "category_dim"]
