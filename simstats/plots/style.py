"""The one style of every simstats figure: the colour-blind-safe Okabe-Ito palette with a fixed colour per
persona, the paper rcParams, and figures built without pyplot that still display in Jupyter."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

from cycler import cycler

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
GREY = "#8C8C8C"

#: Colours of persona names that recur across models (lower-case name -> colour).
KNOWN_PERSONAS = {
    "aligned": OKABE_ITO["blue"], "assistant": OKABE_ITO["blue"], "helpful": OKABE_ITO["blue"],
    "misaligned": OKABE_ITO["vermillion"], "toxic": OKABE_ITO["vermillion"], "evil": OKABE_ITO["vermillion"],
    "code_or_incoherent": OKABE_ITO["reddish_purple"], "incoherent": OKABE_ITO["reddish_purple"],
    "code": OKABE_ITO["orange"], "coder": OKABE_ITO["orange"],
    "refusal": OKABE_ITO["bluish_green"], "refuser": OKABE_ITO["bluish_green"],
    "archaic": OKABE_ITO["sky_blue"], "19th_century": OKABE_ITO["sky_blue"],
    "sycophantic": OKABE_ITO["yellow"], "sycophant": OKABE_ITO["yellow"],
}
# order in which colours go to personas with unknown names (yellow last: it is faint on white)
_FREE_ORDER = ["blue", "vermillion", "bluish_green", "reddish_purple", "orange", "sky_blue", "black", "yellow"]

#: rcParams of every simstats figure: 9-10 pt text, no top/right spines, Okabe-Ito cycle, reproducible SVG ids.
PAPER_RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.title_fontsize": 8.5, "figure.titlesize": 10,
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.8,
    "xtick.major.width": 0.8, "ytick.major.width": 0.8, "xtick.major.size": 3, "ytick.major.size": 3,
    "axes.prop_cycle": cycler(color=[OKABE_ITO[c] for c in _FREE_ORDER]),
    "legend.frameon": False, "lines.linewidth": 1.3, "lines.markersize": 4.5,
    "figure.dpi": 110, "savefig.dpi": 300, "figure.facecolor": "white", "savefig.facecolor": "white",
    "svg.hashsalt": "simstats", "svg.fonttype": "path", "pdf.fonttype": 42, "ps.fonttype": 42,
    "image.cmap": "viridis",
}



@contextmanager
def paper_style(**overrides: Any):
    """Use simstats' paper style (:data:`PAPER_RC`, plus ``overrides``) inside a ``with`` block.

    >>> import matplotlib as mpl
    >>> with paper_style():
    ...     mpl.rcParams["axes.spines.top"], mpl.rcParams["svg.hashsalt"]
    (False, 'simstats')
    """
    import matplotlib as mpl

    with mpl.rc_context({**PAPER_RC, **overrides}):
        yield


def persona_colors(personas: Iterable[str]) -> dict[str, str]:
    """A fixed colour per persona: known names (aligned, misaligned, code_or_incoherent, ...) get their own colour,
    the others take the remaining Okabe-Ito colours in order of their index in ``personas``.

    Pass the model's full persona list (``result.personas``) so that a persona keeps its colour in every figure.

    >>> persona_colors(["aligned", "misaligned", "code_or_incoherent"])
    {'aligned': '#0072B2', 'misaligned': '#D55E00', 'code_or_incoherent': '#CC79A7'}
    >>> persona_colors(["a", "b"])
    {'a': '#0072B2', 'b': '#D55E00'}
    """
    personas = list(personas)
    out: dict[str, str] = {}
    for p in personas:
        c = KNOWN_PERSONAS.get(str(p).lower())
        if c is not None and c not in out.values():
            out[p] = c
    free = [OKABE_ITO[n] for n in _FREE_ORDER if OKABE_ITO[n] not in out.values()]
    extra = ["#555555", GREY, "#332288", "#882255", "#44AA99", "#999933"]
    free += extra
    i = 0
    for p in personas:
        if p not in out:
            out[p] = free[i % len(free)]
            i += 1
    return {p: out[p] for p in personas}


def new_figure(width: float, height: float, **kw):
    from matplotlib.figure import Figure

    show_figures_in_jupyter()
    return Figure(figsize=(width, height), layout="constrained", **kw)


def show_figures_in_jupyter() -> bool:
    """Make a returned figure display as a PNG in a Jupyter notebook, whatever the matplotlib backend.

    simstats builds its figures without pyplot (nothing global, nothing leaked in loops), so no backend shows them;
    IPython shows an object through the formatter registered for its type. This registers IPython's own PNG
    formatter for :class:`matplotlib.figure.Figure` (what ``%matplotlib inline`` does) once per kernel, and only in
    a kernel that has none. Called by every plot function; returns whether a formatter is now in place (False
    outside a Jupyter kernel, where it does nothing).

    >>> show_figures_in_jupyter()          # in a plain Python session: nothing to do
    False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):       # a terminal IPython shows figures through pyplot
        return False
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib.figure import Figure

    if Figure not in shell.display_formatter.formatters["image/png"].type_printers:
        select_figure_formats(shell, {"png"}, bbox_inches="tight", dpi=110)
    return True


def pct_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))


__all__ = ["GREY", "KNOWN_PERSONAS", "OKABE_ITO", "PAPER_RC", "new_figure", "paper_style", "pct_axis", "persona_colors",
           "show_figures_in_jupyter"]
