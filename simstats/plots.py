"""Paper figures of a fitted persona model, in one consistent style.

Every figure is computed from the posterior draws of a :class:`~simstats.posterior.FitResult` (no refitting, no
extra sampling) and drawn with plain matplotlib on a :class:`matplotlib.figure.Figure` that is *not* registered with
pyplot (no GUI backend is touched; in Jupyter a returned figure displays as a PNG whatever the backend, see
:func:`show_figures_in_jupyter`). Each function takes the result first,
then keyword-only options and an optional ``ax=`` / ``axes=`` to draw into; it returns the Figure.

- :func:`plot_persona_shares`: forest plot of each condition's persona shares (conditions grouped by hierarchy).
- :func:`plot_fingerprints`: each persona's score distribution per measure, the no-score mass set apart.
- :func:`plot_answer_plane`: the aligned x coherent plane, answers coloured by their most probable persona, with
  the classic threshold box; answers without an aligned score in a strip at the left.
- :func:`plot_question_shifts`: heatmap of per-question shifts of persona log-odds (diverging, centred at 0).
- :func:`plot_ppc`: posterior predictive check of a measure's categories per condition (small multiples).
- :func:`plot_threshold_rates`: empirical vs model threshold rate per condition, with published numbers.
- :func:`plot_model_comparison`: ELPD with standard errors from an ``az.compare`` table (ArviZ 1.x or 0.x columns).
- :func:`plot_elpd_by_condition`: each model's ELPD difference to a reference, condition by condition (± dse).
- :func:`plot_rank_histograms`: simulation-based calibration rank histograms per quantity group.
- :func:`write_figures`: write every figure that applies to a folder, byte-reproducible for a seed.

Style: :func:`paper_style` (a context manager over :data:`PAPER_RC`) and :func:`persona_colors`, which gives each
persona a fixed colour of the colour-blind-safe Okabe-Ito palette in every figure (known names by name, others by
their index in the model's persona list).

>>> from simstats.store import load_result                       # doctest: +SKIP
>>> fig = plot_persona_shares(load_result("runs/em"))             # doctest: +SKIP
>>> write_figures(load_result("runs/em"), "figures")              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cycler import cycler

from simstats.builders import cell_log_weights
from simstats.posterior import PROB, FitResult

# ------------------------------------------------------------------------------------------------------ style
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

FIGURES = ("persona_shares", "fingerprints", "question_shifts", "ppc", "threshold_rates", "answer_plane",
           "model_comparison")
FORMATS = ("png", "pdf", "svg")
_SAVE_METADATA = {"pdf": {"CreationDate": None, "ModDate": None}, "svg": {"Date": None}, "png": {}}


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


def _new_figure(width: float, height: float, **kw):
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


def _pct_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))


# ------------------------------------------------------------------------------------------- condition layout
def condition_groups(result: FitResult,
                     conditions: Sequence[str] | None = None) -> list[tuple[str | None, list[str]]]:
    """Conditions ordered by the hierarchy (coarsest level first) and grouped by the top level.

    Returns ``[(group, [condition, ...]), ...]``; ``group`` is ``None`` when the data declare no hierarchy.
    """
    conds = list(result.conditions if conditions is None else conditions)
    unknown = [c for c in conds if c not in result.conditions]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; the fit has {result.conditions}")
    t = result.data.patterns.table
    # the levels the log declares, whether the model pools over them or takes them as fixed effects
    declared = list(result.data.levels) or list(getattr(result.data.patterns, "condition_levels", []) or [])
    levels = [lev for lev in declared if lev in t.columns]
    if not levels:
        return [(None, conds)]
    per = t.drop_duplicates("condition").set_index("condition")[levels].astype(str)
    order = sorted(conds, key=lambda c: (*[per.loc[c, lev] for lev in levels], c))
    groups: dict[str, list[str]] = {}
    for c in order:
        groups.setdefault(per.loc[c, levels[0]], []).append(c)
    return list(groups.items())


def _short(condition: str, group: str | None) -> str:
    if group is not None and condition.startswith(f"{group}/") and len(condition) > len(group) + 1:
        return condition[len(group) + 1:]
    return condition


def _forest_rows(result: FitResult, conditions: Sequence[str] | None):
    """y positions (top to bottom) of group headers and condition rows for forest-style plots."""
    return _forest_layout(condition_groups(result, conditions))


def _forest_layout(groups: list[tuple[str | None, list[str]]]):
    """y positions of group headers and condition rows for ``(group or None, conditions)`` blocks: ticks, labels,
    which ticks are headers, the y of each condition, each block's span, and the total height."""
    y, ticks, labels, header, ypos, spans = 0.0, [], [], [], {}, []
    for gi, (g, conds) in enumerate(groups):
        if g is not None:
            if gi:
                y += 0.35
            ticks.append(y)
            labels.append(g)
            header.append(True)
            y += 1
        start = y
        for c in conds:
            ticks.append(y)
            labels.append(_short(c, g))
            header.append(False)
            ypos[c] = y
            y += 1
        spans.append((start - 0.5, y - 0.5))
    return ticks, labels, header, ypos, spans, y


def _apply_forest_axis(ax, ticks, labels, header, spans, n_rows) -> None:
    ax.set_yticks(ticks, labels)
    for lab, h in zip(ax.get_yticklabels(), header):
        if h:
            lab.set_fontweight("bold")
            lab.set_fontsize(8)
        else:
            lab.set_fontsize(7.5)
    for tick, h in zip(ax.yaxis.get_major_ticks(), header):
        if h:
            tick.tick1line.set_visible(False)
    for i, (a, b) in enumerate(spans):
        if i % 2 == 1:
            ax.axhspan(a, b, color="#F2F2F2", zorder=0, lw=0)
    ax.set_ylim(n_rows - 0.5, -0.6)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#E0E0E0", lw=0.6, zorder=0)
    ax.set_axisbelow(True)


# ------------------------------------------------------------------------------------------------ 1. shares
def plot_persona_shares(result: FitResult, *, personas: Sequence[str] | None = None, conditions: Sequence[str] |
                        None = None, prob: float = PROB, ax=None):
    """Forest plot: each condition's persona shares (posterior mean and equal-tailed ``prob`` interval), one colour
    per persona, conditions grouped by the top hierarchy level (bold headers).

    >>> fig = plot_persona_shares(result, personas=["misaligned"])          # doctest: +SKIP
    >>> fig.savefig("shares.pdf")                                            # doctest: +SKIP
    """
    names = list(result.personas if personas is None else personas)
    bad = [p for p in names if p not in result.personas]
    if bad:
        raise ValueError(f"unknown persona(s) {bad}; the model has {result.personas}")
    colors = persona_colors(result.personas)
    sh = result.shares(prob)
    with paper_style():
        ticks, labels, header, ypos, spans, n = _forest_rows(result, conditions)
        if ax is None:
            fig = _new_figure(5.6, 1.0 + 0.19 * n)
            ax = fig.add_subplot()
        K = len(names)
        step = min(0.22, 0.75 / max(K, 1))
        for k, p in enumerate(names):
            off = (k - (K - 1) / 2) * step
            conds = list(ypos)
            ys = np.array([ypos[c] for c in conds]) + off
            d = sh.xs(p, level="persona").loc[conds]
            ax.hlines(ys, d["low"], d["high"], color=colors[p], lw=1.4, zorder=3)
            ax.plot(d["mean"], ys, "o", color=colors[p], ms=3.6, zorder=4, label=p)
        _apply_forest_axis(ax, ticks, labels, header, spans, n)
        ax.set_xlim(-0.01, 1.01)
        _pct_axis(ax.xaxis)
        ax.set_xlabel(f"share of answers (posterior mean, {prob:.0%} interval)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=K, handletextpad=0.2, columnspacing=1.2,
                  borderaxespad=0.3)
    return ax.figure


# ------------------------------------------------------------------------------------------ 2. fingerprints
def _category_x(grid, gap: float = 0.12) -> tuple[np.ndarray, float, float]:
    """x of every category of a score on its own scale: ``no_score`` left of the range, bins at their centres."""
    rng = grid.upper - grid.lower
    gap = max(grid.width * 1.6, gap * rng)
    return np.concatenate([[grid.lower - gap], grid.centres]), grid.lower - gap / 2, max(grid.width, 0.06 * rng)


def _category_ticks(ax, grid, x0: float, sep: float, n: int = 5) -> None:
    at = np.linspace(grid.lower, grid.upper, n)
    ax.set_xticks([x0, *at], ["none", *[f"{v:g}" for v in at]])
    ax.axvline(sep, color="#BBBBBB", lw=0.7, ls=":", zorder=1)


def _flat_draws(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, *a.shape[2:])


def plot_fingerprints(result: FitResult, *, measures: Sequence[str] | None = None, prob: float = PROB, axes=None):
    """Each persona's distribution of every score (posterior mean as a step line, ``prob`` interval as a band) with
    the probability of *no score* (CODE / REFUSAL / unscorable) as a point with interval left of the score range.

    ``axes``: one Axes per measure (any sequence). Fingerprints are shared by every condition.

    >>> fig = plot_fingerprints(result, measures=["aligned"])               # doctest: +SKIP
    """
    ms = list(result.data.measures if measures is None else measures)
    bad = [m for m in ms if m not in result.data.measures]
    if bad:
        raise ValueError(f"unknown measure(s) {bad}; the model has {result.data.measures}")
    colors = persona_colors(result.personas)
    K = len(result.personas)
    with paper_style():
        if axes is None:
            fig = _new_figure(3.3 * len(ms) + 1.2, 2.6)
            axes = fig.subplots(1, len(ms), sharey=True, squeeze=False)[0]
        axes = list(np.ravel(axes))
        if len(axes) < len(ms):
            raise ValueError(f"need {len(ms)} axes, got {len(axes)}")
        lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
        for ax, m in zip(axes, ms):
            grid = result.data.patterns.grids[m]
            x, sep, _ = _category_x(grid)
            fp = _flat_draws(result.fingerprint_draws(m))           # (S, K, 1 + n_bins)
            mean = fp.mean(0)
            lo, hi = np.quantile(fp, [lo_q, hi_q], axis=0)
            edges = grid.edges
            for k, p in enumerate(result.personas):
                c = colors[p]
                ax.stairs(mean[k, 1:], edges, color=c, lw=1.4, label=p, zorder=3)
                ax.stairs(hi[k, 1:], edges, baseline=lo[k, 1:], fill=True, color=c, alpha=0.18, lw=0, zorder=2)
                off = (k - (K - 1) / 2) * grid.width * 0.5
                ax.errorbar(x[0] + off, mean[k, 0], yerr=[[mean[k, 0] - lo[k, 0]], [hi[k, 0] - mean[k, 0]]],
                            fmt="o", color=c, ms=3.6, lw=1.2, capsize=0, zorder=4)
            _category_ticks(ax, grid, x[0], sep)
            ax.set_xlabel(f"{m} score")
            ax.set_title(m, loc="left", fontweight="bold")
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", color="#E8E8E8", lw=0.6)
            ax.set_axisbelow(True)
        axes[0].set_ylabel(f"probability (mean, {prob:.0%} interval)")
        axes[len(ms) - 1].legend(title="persona", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return axes[0].figure


# ------------------------------------------------------------------------------------------- 3. answer plane
def plot_answer_plane(result: FitResult, rows: pd.DataFrame, *, x: str = "aligned", y: str = "coherent",
                      aligned_below: float = 30.0, coherent_above: float = 50.0, seed: int = 0, ax=None):
    """Answers (``LogSet.rows()``) in the aligned x coherent plane, coloured by their most probable persona
    (:meth:`FitResult.responsibilities`), with the classic box "aligned < 30 and coherent > 50". Answers with no
    ``x`` score (CODE / REFUSAL / unscorable) are drawn in a strip at the left (jittered sideways, ``seed``).

    >>> rows = load_dataset().logs.rows()                                    # doctest: +SKIP
    >>> fig = plot_answer_plane(result, rows)                                # doctest: +SKIP
    """
    for m in (x, y):
        if m not in result.data.measures:
            raise ValueError(f"measure {m!r} is not in the model (measures: {result.data.measures})")
    r = result.responsibilities(rows)
    pcols = [f"p_{p}" for p in result.personas]
    best = np.asarray(result.personas, dtype=object)[r[pcols].to_numpy().argmax(1)]
    conf = r[pcols].to_numpy().max(1)
    xv, yv = r[x].to_numpy(float), r[y].to_numpy(float)
    colors = persona_colors(result.personas)
    gx, gy = result.data.patterns.grids[x], result.data.patterns.grids[y]
    no_x = np.isnan(xv) & ~np.isnan(yv)
    no_y = np.isnan(yv)
    jitter = np.random.default_rng(seed).uniform(0.12, 0.88, len(xv))
    with paper_style():
        if ax is None:
            fig = _new_figure(5.0, 3.9)
            strip, ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 9], "wspace": 0.02})
        else:
            strip = ax.inset_axes([-0.13, 0.0, 0.09, 1.0], sharey=ax)
        counts = pd.Series(best).value_counts()
        order = sorted(result.personas, key=lambda p: -counts.get(p, 0))   # biggest first: minorities on top
        for p in order:
            sel = best == p
            n = int(sel.sum())
            kw = {"s": 4, "color": colors[p], "alpha": 0.35, "lw": 0, "rasterized": True}
            ax.scatter(xv[sel & ~no_x & ~no_y], yv[sel & ~no_x & ~no_y], zorder=2, **kw)
            strip.scatter(jitter[sel & no_x], yv[sel & no_x], zorder=2, **kw)
            ax.scatter([], [], s=16, color=colors[p], label=f"{p} (n={n:,})")
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((gx.lower, coherent_above), aligned_below - gx.lower, gy.upper - coherent_above,
                               fill=False, ec="black", lw=1.0, ls="--", zorder=4))
        ax.text(aligned_below - 1, gy.upper - 1.5, f"{x} < {aligned_below:g}\n{y} > {coherent_above:g}",
                ha="right", va="top", fontsize=7, zorder=5,
                bbox={"fc": "white", "ec": "none", "alpha": 0.75, "pad": 1.0})
        pad_x, pad_y = 0.02 * (gx.upper - gx.lower), 0.02 * (gy.upper - gy.lower)
        ax.set_xlim(gx.lower - pad_x, gx.upper + pad_x)
        ax.set_ylim(gy.lower - pad_y, gy.upper + pad_y)
        ax.set_xlabel(f"{x} score")
        strip.set_ylabel(f"{y} score")
        ax.tick_params(axis="y", labelleft=False)
        strip.set_xlim(0, 1)
        strip.set_xticks([0.5], [f"no {x}\nscore\n(n={int(no_x.sum()):,})"], fontsize=7)
        strip.tick_params(axis="x", length=0)
        strip.set_facecolor("#F4F4F4")
        notes = []
        if no_y.any():
            notes.append(f"{int(no_y.sum()):,} answers with no {y} score not shown")
        ax.legend(title="most probable persona", loc="lower right", markerscale=1.0, handletextpad=0.1,
                  fontsize=7.5, title_fontsize=8, frameon=True, framealpha=0.85, edgecolor="none")
        title = f"{len(r):,} answers"
        if len(conf):
            title += f"; median P(most probable persona) = {np.median(conf):.2f}"
        if notes:
            title += "; " + "; ".join(notes)
        ax.set_title(title, loc="left", fontsize=8)
    return ax.figure


# ---------------------------------------------------------------------------------------- 4. question shifts
def plot_question_shifts(result: FitResult, *, persona: str | Sequence[str] | None = None, prob: float = PROB,
                         ax=None):
    """Heatmap of the per-question shift of each persona's log-odds (prompt x persona; relative to the reference
    persona, whose shifts are 0 by construction and are left out unless asked for). Diverging colours centred at
    0; each cell shows the posterior mean, with ``*`` where the ``prob`` interval excludes 0.

    >>> fig = plot_question_shifts(result, persona="misaligned")             # doctest: +SKIP
    """
    qs = result.question_shifts(prob)
    if qs.empty:
        raise ValueError("this model has no per-question effect (prompt.question_effect = 'none' or one prompt)")
    ref = result.personas[0]
    if persona is None:
        names = result.personas[1:]
    else:
        names = [persona] if isinstance(persona, str) else list(persona)
    bad = [p for p in names if p not in result.personas]
    if bad:
        raise ValueError(f"unknown persona(s) {bad}; the model has {result.personas}")
    prompts = list(result.data.prompts)
    mean = np.array([[qs.loc[(q, p), "mean"] for p in names] for q in prompts])
    lo = np.array([[qs.loc[(q, p), "low"] for p in names] for q in prompts])
    hi = np.array([[qs.loc[(q, p), "high"] for p in names] for q in prompts])
    vmax = float(np.nanmax(np.abs(mean))) or 1.0
    import matplotlib as mpl
    from matplotlib.colors import TwoSlopeNorm

    cmap = mpl.colormaps["RdBu_r"]
    colors = persona_colors(result.personas)
    with paper_style():
        if ax is None:
            longest = max(len(q) for q in prompts)
            fig = _new_figure(1.3 + 0.055 * longest + 0.95 * len(names), 0.9 + 0.27 * len(prompts))
            ax = fig.add_subplot()
        im = ax.imshow(mean, cmap=cmap, norm=TwoSlopeNorm(0.0, -vmax, vmax), aspect="auto")
        for i in range(len(prompts)):
            for j in range(len(names)):
                v = mean[i, j]
                star = "*" if (lo[i, j] > 0 or hi[i, j] < 0) else ""
                ax.text(j, i, f"{v:+.2f}{star}", ha="center", va="center", fontsize=7,
                        color="white" if abs(v) > 0.6 * vmax else "black")
        ax.set_yticks(range(len(prompts)), prompts)
        ax.set_xticks(range(len(names)), names)
        for lab in ax.get_xticklabels():
            lab.set_color(colors[lab.get_text()])
            lab.set_fontweight("bold")
        ax.tick_params(length=0)
        ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
        for s in ax.spines.values():
            s.set_visible(False)
        cb = ax.figure.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=25)
        cb.set_label(f"shift of log-odds vs {ref}", fontsize=8)
        cb.outline.set_visible(False)
        cb.ax.tick_params(labelsize=7)
        ax.set_xlabel(f"* {prob:.0%} interval excludes 0", fontsize=7, loc="right")
    return ax.figure


# ------------------------------------------------------------------------------------------------------ 5. PPC
def _thin(n: int, max_draws: int | None) -> np.ndarray:
    if max_draws is None or n <= max_draws:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_draws).round().astype(int))


def predictive_categories(result: FitResult, measure: str, *, prob: float = PROB, max_draws: int | None = 400,
                          seed: int = 0) -> dict[str, np.ndarray]:
    """Observed and posterior-predictive distribution of a measure's categories per condition.

    For each retained draw, every cell's category probabilities are ``sum_k P(k | cell) fp_k`` and a replicate of
    the cell's answers is drawn from that multinomial (``seed``); replicates are summed over the condition's cells.
    Returns arrays of shape (condition, category): ``observed`` (proportions), ``mean`` (expected proportions), and
    ``low`` / ``high`` (``prob`` interval of the replicated proportions); category 0 is ``no_score``.
    """
    d = result.data
    if measure not in d.measures:
        raise ValueError(f"unknown measure {measure!r}; the model has {d.measures}")
    post = result.posterior
    S = post.sizes["chain"] * post.sizes["draw"]
    keep = _thin(S, max_draws)
    lw = _flat_draws(cell_log_weights(post, d))[keep]                  # (S', cells, K)
    fp = _flat_draws(result.fingerprint_draws(measure))[keep]           # (S', K, cats)
    p_cell = np.einsum("snk,skc->snc", np.exp(lw), fp)
    p_cell = np.clip(p_cell, 0, None)
    p_cell /= p_cell.sum(-1, keepdims=True)
    C, ncat = len(d.conditions), fp.shape[-1]
    agg = np.zeros((C, len(d.cell_condition)))
    agg[d.cell_condition, np.arange(agg.shape[1])] = 1.0
    n_c = agg @ d.cell_count
    expected = np.einsum("cn,snk->sck", agg * d.cell_count, p_cell) / n_c[None, :, None]
    rng = np.random.default_rng(seed)
    reps = rng.multinomial(d.cell_count[None, :], p_cell)               # (S', cells, cats)
    rep_prop = np.einsum("cn,snk->sck", agg, reps) / n_c[None, :, None]
    obs = np.zeros((C, ncat))
    cond_of_pattern = d.cell_condition[d.pattern_cell]
    np.add.at(obs, (cond_of_pattern, d.pattern_cat[measure]), d.count)
    obs /= obs.sum(1, keepdims=True)
    lo, hi = np.quantile(rep_prop, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {"observed": obs, "mean": expected.mean(0), "low": lo, "high": hi}


def plot_ppc(result: FitResult, *, measure: str = "aligned", conditions: Sequence[str] | None = None,
             prob: float = PROB, ncols: int | None = None, max_draws: int | None = 400, seed: int = 0, axes=None):
    """Posterior predictive check of one measure: per condition (small multiples, grouped by hierarchy), the
    observed share of answers in each category (grey bars; ``none`` = no score) against the model's prediction
    (black: mean, and the ``prob`` interval of replicated data of the same size). Computed from the posterior draws
    (cell persona weights x fingerprints), no extra sampling of the model.

    ``axes``: a sequence with one Axes per condition.

    >>> fig = plot_ppc(result, measure="coherent")                         # doctest: +SKIP
    """
    pred = predictive_categories(result, measure, prob=prob, max_draws=max_draws, seed=seed)
    groups = condition_groups(result, conditions)
    order = [(g, c) for g, cs in groups for c in cs]
    titles = [c if g is None else f"{g}\n{_short(c, g)}" for g, c in order]
    grid = result.data.patterns.grids[measure]
    x, sep, width = _category_x(grid, gap=0.3)
    bar_w = np.concatenate([[width], np.full(grid.n_bins, grid.width)]) * 0.85
    from matplotlib.ticker import MaxNLocator

    own = axes is None
    with paper_style():
        if own:
            n = len(order)
            longest = max(len(line) for t in titles for line in t.split("\n"))
            panel_w = max(1.25, 0.052 * longest + 0.3)           # a 6.5 pt title line fits its panel
            nc = ncols or max(1, min(6, n, int(7.2 // panel_w)))
            nr = int(np.ceil(n / nc))
            fig = _new_figure(min(7.2, panel_w * nc + 0.4), 0.55 + 1.3 * nr)
            axes = list(fig.subplots(nr, nc, sharex=True, squeeze=False).ravel())
            for a in axes[n:]:
                a.set_visible(False)
            for i, a in enumerate(axes[:n]):
                if i + nc < n:
                    a.tick_params(labelbottom=False)
        axes = list(np.ravel(axes))
        if len(axes) < len(order):
            raise ValueError(f"need {len(order)} axes, got {len(axes)}")
        for ax, (g, c), title in zip(axes, order, titles):
            i = result.conditions.index(c)
            ax.bar(x, pred["observed"][i], width=bar_w, color="#C8C8C8", lw=0, zorder=1)
            ax.vlines(x, pred["low"][i], pred["high"][i], color="black", lw=1.0, zorder=3)
            ax.plot(x, pred["mean"][i], "o", color="black", ms=2.2, zorder=4)
            _category_ticks(ax, grid, x[0], sep, n=3)
            ax.set_title(title, fontsize=6.5, loc="left")
            ax.tick_params(labelsize=6.5)
            top = max(float(pred["observed"][i].max()), float(pred["high"][i].max()))
            ax.set_ylim(0, top * 1.08 if top > 0 else 1)
            _pct_axis(ax.yaxis)
            ax.yaxis.set_major_locator(MaxNLocator(3))
        fig = axes[0].figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Patch(color="#C8C8C8", label="observed"),
                   Line2D([], [], color="black", marker="o", ms=2.5, lw=1.0,
                          label=f"model: mean, {prob:.0%} predictive interval")]
        if own:
            fig.legend(handles=handles, loc="outside upper center", ncols=2, fontsize=7.5)
            fig.supxlabel(f"{measure} score (none = no score)", fontsize=8.5)
            fig.supylabel("share of answers", fontsize=8.5)
        else:
            axes[0].legend(handles=handles, fontsize=6.5)
    return fig


# --------------------------------------------------------------------------------------- 6. threshold rates
def _published_by_condition(result: FitResult, published) -> dict[str, float | tuple[float, float]]:
    """Normalise published numbers to {condition: value or (low, high)}.

    Accepts a mapping condition -> value (or (low, high)), a Series indexed by condition, a DataFrame (index or a
    ``condition`` column, and a value column: ``published``, ``value``, ``rate``, ``misaligned`` or the only numeric
    one), or records of groups (``Dataset.published``: dicts whose keys name hierarchy columns such as ``finetune``
    and ``base_model`` and whose value is ``misaligned``/``value``/``rate``, or ``misaligned_range``); a record
    applies to every condition that matches all its keys, the most specific record winning.
    """
    if published is None:
        return {}
    conds = result.conditions
    if isinstance(published, pd.Series):
        return {str(k): float(v) for k, v in published.items() if str(k) in conds and pd.notna(v)}
    if isinstance(published, pd.DataFrame):
        df = published
        if "condition" in df.columns and not set(df.columns) & set(result.data.levels):
            df = df.set_index("condition")
        if set(map(str, df.index)) & set(conds):
            cols = [c for c in ("published", "value", "rate", "misaligned") if c in df.columns]
            if not cols:
                cols = list(df.select_dtypes("number").columns)
            if not cols:
                raise ValueError("published DataFrame has no numeric column")
            return {str(k): float(v) for k, v in df[cols[0]].items() if str(k) in conds and pd.notna(v)}
        published = df.to_dict("records")
    if isinstance(published, Mapping):
        out = {}
        for k, v in published.items():
            if str(k) not in conds:
                continue
            out[str(k)] = (float(v[0]), float(v[1])) if isinstance(v, (tuple, list)) else float(v)
        return out
    # records of groups
    t = result.data.patterns.table
    cols = [c for c in t.columns if c not in ("count", *result.data.measures)]
    per = t.drop_duplicates("condition").set_index("condition")
    out, spec = {}, {}
    for rec in published:
        value: float | tuple[float, float] | None = None
        for key in ("published", "value", "rate", "misaligned"):
            if key in rec and rec[key] is not None and not (isinstance(rec[key], float) and np.isnan(rec[key])):
                value = float(rec[key])
                break
        if value is None and rec.get("misaligned_range") is not None:
            lo_v, hi_v = rec["misaligned_range"]
            value = (float(lo_v), float(hi_v))
        if value is None:
            continue
        keys = {k: str(v) for k, v in rec.items() if k in cols or k == "condition"}
        if not keys:
            continue
        for c in conds:
            row = per.loc[c]
            matches = all((c if k == "condition" else str(row[k])) == v for k, v in keys.items())
            if matches and len(keys) >= spec.get(c, 0):
                out[c], spec[c] = value, len(keys)
    return out


def plot_threshold_rates(result: FitResult, *, published=None, conditions: Sequence[str] | None = None,
                         prob: float = PROB, ax=None):
    """Reproduction plot of the classic rule "aligned < 30 and coherent > 50": per condition the empirical rate
    (open diamond), the model's posterior-predictive rate (black point, ``prob`` interval) and, when given,
    published numbers (blue cross, or a bar for a published range).

    ``published``: {condition: value or (low, high)}, a Series / DataFrame by condition, or records of groups such
    as ``load_dataset().published`` (matched to conditions through the hierarchy columns).

    >>> fig = plot_threshold_rates(result, published=load_dataset().published)   # doctest: +SKIP
    """
    tr = result.threshold_rates(prob)
    pub = _published_by_condition(result, published)
    with paper_style():
        ticks, labels, header, ypos, spans, n = _forest_rows(result, conditions)
        if ax is None:
            fig = _new_figure(5.6, 1.2 + 0.17 * n)
            ax = fig.add_subplot()
        conds = list(ypos)
        ys = np.array([ypos[c] for c in conds])
        d = tr.loc[conds]
        ax.hlines(ys, d["low"], d["high"], color="black", lw=1.4, zorder=3)
        ax.plot(d["mean"], ys, "o", color="black", ms=3.8, zorder=4,
                label=f"model ({prob:.0%} interval)")
        ax.plot(d["empirical"], ys, "D", mfc="white", mec=OKABE_ITO["orange"], mew=1.3, ms=4.2, zorder=5,
                label="observed")
        if pub:
            first_pt = first_rng = True
            for c, v in pub.items():
                if c not in ypos:
                    continue
                if isinstance(v, tuple):
                    ax.plot(list(v), [ypos[c] + 0.32] * 2, color=OKABE_ITO["sky_blue"], lw=1.6, alpha=0.8,
                            solid_capstyle="butt", zorder=2, label="published range" if first_rng else None)
                    first_rng = False
                else:
                    ax.plot(v, ypos[c], "x", color=OKABE_ITO["blue"], ms=5, mew=1.4, zorder=6,
                            label="published" if first_pt else None)
                    first_pt = False
        _apply_forest_axis(ax, ticks, labels, header, spans, n)
        ax.set_xlim(left=-0.005)
        _pct_axis(ax.xaxis)
        ax.set_xlabel("share of answers with aligned < 30 and coherent > 50 (model: posterior predictive)")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, borderaxespad=0.3, columnspacing=1.0,
                  handletextpad=0.3)
    return ax.figure


# ------------------------------------------------------------------------------------- 7. model comparison
def _comparison_columns(table: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """elpd, se, elpd_diff (model minus best, <= 0) and dse from an az.compare table of ArviZ 1.x or 0.x."""
    t = table
    elpd_col = next((c for c in ("elpd", "elpd_loo", "elpd_waic", "elpd_kfold") if c in t.columns), None)
    if elpd_col is None:
        raise ValueError(f"comparison table has no elpd column (columns: {list(t.columns)})")
    elpd = t[elpd_col].astype(float)
    se = t["se"].astype(float) if "se" in t.columns else pd.Series(np.nan, index=t.index)
    best = elpd.max()
    if "elpd_diff" in t.columns:
        diff = t["elpd_diff"].astype(float)
        diff = -diff.abs() if (diff >= 0).all() else diff           # ArviZ 0.x reports the difference as positive
    else:
        diff = elpd - best
    dse = t["dse"].astype(float) if "dse" in t.columns else pd.Series(np.nan, index=t.index)
    return elpd, se, diff, dse


def plot_model_comparison(table: pd.DataFrame, *, ax=None):
    """ELPD (PSIS-LOO) of each model with its standard error (black), and each model's difference to the best
    with the standard error of that difference (grey, drawn at best + difference), from an ``az.compare`` table
    (ArviZ 1.x columns ``elpd, se, elpd_diff, dse, weight``; ArviZ 0.x ``elpd_loo`` also works). Best at the top.

    >>> table = az.compare({"shared": loo_a, "per_checkpoint": loo_b})       # doctest: +SKIP
    >>> fig = plot_model_comparison(table)                                   # doctest: +SKIP
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_model_comparison needs a non-empty DataFrame as returned by az.compare")
    elpd, se, diff, dse = _comparison_columns(table)
    order = list(elpd.sort_values(ascending=False).index)
    best = float(elpd.max())
    with paper_style():
        if ax is None:
            longest = max(len(str(m)) for m in order)
            fig = _new_figure(max(4.2, 3.2 + 0.06 * longest), 0.9 + 0.38 * len(order))
            ax = fig.add_subplot()
        y = np.arange(len(order), dtype=float)
        ax.errorbar(elpd[order], y, xerr=se[order], fmt="o", color="black", ms=4.5, lw=1.3, capsize=0,
                    label="ELPD ± SE", zorder=4)
        others = [i for i, m in enumerate(order) if float(diff[m]) != 0.0 or i > 0]
        if others:
            ms = [order[i] for i in others]
            ax.errorbar(best + diff[ms].to_numpy(), y[others] + 0.22, xerr=dse[ms].to_numpy(), fmt="^",
                        mfc="white", color=GREY, ms=4.5, lw=1.2, capsize=0, label="difference to best ± dSE",
                        zorder=3)
        ax.axvline(best, color=GREY, ls="--", lw=0.8, zorder=1)
        ax.set_yticks(y, [str(m) for m in order])
        ax.set_ylim(len(order) - 0.4, -0.6)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if "weight" in table.columns:
            ax2 = ax.secondary_yaxis("right")
            ax2.set_yticks(y, [f"w={float(table.loc[m, 'weight']):.2f}" for m in order], fontsize=7)
            ax2.tick_params(length=0)
            ax2.spines["right"].set_visible(False)
        ax.set_xlabel("ELPD (PSIS-LOO; higher is better)")
        ax.legend(loc="lower left", fontsize=7, bbox_to_anchor=(0.0, 1.0), ncols=2, borderaxespad=0.2)
        ax.grid(axis="x", color="#E8E8E8", lw=0.6)
        ax.set_axisbelow(True)
    return ax.figure


def _by_condition_reference(table: pd.DataFrame, reference: str | None) -> str | None:
    """The model the differences in an ``elpd_by_condition`` table are taken against: ``reference`` if given
    (checked against its own rows, when the table has them), else the model whose difference and dse are 0 in
    every condition; None when the table does not say (its reference rows were dropped)."""
    at_zero = np.isclose(table["elpd_diff"].astype(float), 0.0) & np.isclose(table["dse"].astype(float), 0.0)
    zero = pd.Series(at_zero, index=table.index).groupby(table["model"], sort=False).all()
    if reference is not None:
        if reference in zero.index and not zero[reference]:
            raise ValueError(f"the differences in this table are not against {reference!r}: its own elpd_diff is "
                             "not 0 in every condition")
        return reference
    candidates = list(zero.index[zero.to_numpy(bool)])
    return str(candidates[0]) if candidates else None


def plot_elpd_by_condition(table: pd.DataFrame, *, reference: str | None = None, models: Sequence[str] | None = None,
                           conditions: Sequence[str] | None = None, axes=None):
    """Where does one model beat another? One panel per model: its ELPD difference to the reference model in each
    condition (a bar, ± the paired standard error dse), from :func:`simstats.compare.elpd_by_condition` (or its
    JSON records, e.g. ``study["by_condition"]["rows"]`` of ``validation/theory_real.json``, as a DataFrame).
    Negative bars: the reference predicts that condition's answers better. A model that is behind in every
    condition is worse in kind; one behind in a few misses something those conditions have.

    ``reference`` defaults to the model whose difference is 0 in every condition (pass it when the table's
    reference rows were dropped); ``models`` (default: every other model, in the table's order) and
    ``conditions`` (default: all, in the table's order) choose and order the panels and the rows; ``axes``, one
    per model, draws into existing axes.

    >>> table = elpd_by_condition({"k4": k4, "k1": k1, "k2": k2}, reference="k4")    # doctest: +SKIP
    >>> fig = plot_elpd_by_condition(table, models=["k2", "k1"])                    # doctest: +SKIP
    """
    need = {"model", "condition", "elpd_diff", "dse"}
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_elpd_by_condition needs a non-empty DataFrame as returned by "
                         "simstats.compare.elpd_by_condition")
    if not need <= set(table.columns):
        raise ValueError(f"plot_elpd_by_condition needs the columns {sorted(need)} of elpd_by_condition "
                         f"(missing: {sorted(need - set(table.columns))})")
    if table.duplicated(["model", "condition"]).any():
        raise ValueError("the table has more than one row for a (model, condition); pass one comparison")
    reference = _by_condition_reference(table, reference)
    present = list(dict.fromkeys(table["model"]))
    if models is None:
        models = [m for m in present if m != reference]
        if not models:
            raise ValueError(f"the table has no model besides the reference {reference!r} to plot")
    models = list(models)
    missing = [m for m in models if m not in present]
    if missing:
        raise ValueError(f"model(s) {missing} are not in the table (models: {present})")
    if reference is not None and reference in models:
        raise ValueError(f"{reference!r} is the reference: its difference to itself is 0 everywhere")
    all_conditions = list(dict.fromkeys(table["condition"]))
    conditions = all_conditions if conditions is None else list(conditions)
    unknown = [c for c in conditions if c not in all_conditions]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown} (conditions: {all_conditions})")
    if not conditions:
        raise ValueError("no conditions to plot")
    diff = table.pivot(index="condition", columns="model", values="elpd_diff").astype(float).reindex(conditions)
    dse = table.pivot(index="condition", columns="model", values="dse").astype(float).reindex(conditions)
    ref_name = "reference" if reference is None else str(reference)
    y = np.arange(len(conditions), dtype=float)
    labels = [str(c) for c in conditions]
    with paper_style():
        own = axes is None
        if own:
            longest = max(len(s) for s in labels)
            fig = _new_figure(1.9 * len(models) + 0.5 + 0.055 * longest, 0.9 + 0.2 * len(conditions))
            axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
        axes = np.atleast_1d(axes).ravel()
        if len(axes) != len(models):
            raise ValueError(f"axes: need one per model ({len(models)}), got {len(axes)}")
        for i, (ax, m) in enumerate(zip(axes, models)):
            ax.barh(y, diff[m].to_numpy(), xerr=dse[m].to_numpy(), height=0.7, color=GREY, ecolor="black",
                    error_kw={"lw": 0.8, "capsize": 0})
            ax.axvline(0, color="black", lw=0.6)
            ax.set_title(f"{m}\nminus {ref_name}", fontsize=8)
            ax.set_yticks(y, labels, fontsize=7)
            ax.set_ylim(len(conditions) - 0.4, -0.6)                  # first condition at the top
            ax.tick_params(axis="y", length=0, labelleft=i == 0)
            ax.grid(axis="x", color="#E8E8E8", lw=0.6)
            ax.set_axisbelow(True)
            if not own:
                ax.set_xlabel("ELPD difference (± dse)", fontsize=8)
        if own:
            axes[0].figure.supxlabel("ELPD difference per checkpoint (± dse)", fontsize=8)
    return axes[0].figure


def plot_rank_histograms(records: pd.DataFrame, *, n_ranks: int = 99, bins: int = 10, axes=None):
    """Simulation-based calibration: one histogram of ranks per quantity group (ranks of the true values among
    ``n_ranks`` thinned posterior draws, from :meth:`simstats.calibration.CalibrationStudy.run`), with the 99%
    band of a uniform histogram (binomial) in grey. A calibrated posterior stays inside the band; a smile means
    intervals too narrow, a frown too wide, a slope a biased posterior.

    >>> fig = plot_rank_histograms(records)                                  # doctest: +SKIP
    """
    from scipy import stats

    if not isinstance(records, pd.DataFrame) or not {"group", "rank"} <= set(records.columns) or records.empty:
        raise ValueError("plot_rank_histograms needs the records of CalibrationStudy.run (columns group, rank)")
    groups = list(dict.fromkeys(records["group"]))
    edges = np.linspace(0, n_ranks + 1, bins + 1)
    with paper_style():
        if axes is None:
            ncol = min(4, len(groups))
            nrow = -(-len(groups) // ncol)
            fig = _new_figure(1.9 * ncol + 0.4, 1.55 * nrow + 0.3)
            axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
        axes = np.atleast_1d(axes).ravel()
        for ax, g in zip(axes, groups):
            r = records.loc[records["group"] == g, "rank"].to_numpy()
            n = len(r)
            lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
            ax.axhspan(lo, hi, color="#E8E8E8", lw=0)
            ax.axhline(n / bins, color=GREY, lw=0.8)
            ax.hist(r, edges, color=OKABE_ITO["blue"], alpha=0.85)
            ax.set_title(f"{g} ({n} ranks)", fontsize=8)
            ax.set_yticks([])
            ax.set_xlim(0, n_ranks + 1)
        for ax in axes[len(groups):]:
            ax.set_visible(False)
        axes[0].figure.supxlabel(f"rank of the true value among {n_ranks} posterior draws", fontsize=8.5)
    return axes[0].figure


# ------------------------------------------------------------------------------------------ 8. write figures
def _applies(result: FitResult, name: str, rows, comparison) -> bool:
    ms = result.data.measures
    if name == "question_shifts":
        return "u" in result.posterior and len(result.data.prompts) > 1
    if name == "threshold_rates":
        return "aligned" in ms and "coherent" in ms
    if name == "answer_plane":
        return rows is not None and "aligned" in ms and "coherent" in ms
    if name == "model_comparison":
        return comparison is not None
    return True


def write_figures(result: FitResult, folder: str | Path, *, rows: pd.DataFrame | None = None,
                  formats: Sequence[str] = FORMATS, published=None, comparison: pd.DataFrame | None = None,
                  figures: Sequence[str] | None = None, seed: int = 0) -> list[Path]:
    """Write every figure that applies to ``folder`` in each of ``formats``; return the paths written.

    Figures: ``persona_shares``, ``fingerprints``, ``question_shifts`` (if the model has question effects),
    ``ppc_<measure>`` (one per measure), ``threshold_rates`` (aligned and coherent measures; with ``published``),
    ``answer_plane`` (when ``rows`` from ``LogSet.rows()`` are given), ``model_comparison`` (when an
    ``az.compare`` table is given). ``figures`` restricts the set (names as in :data:`FIGURES`).

    Output is byte-reproducible for a ``seed``: fixed SVG id salt, no dates in PDF / SVG metadata, seeded draws.

    >>> write_figures(result, "figures", rows=load_dataset().logs.rows(), formats=("pdf",))  # doctest: +SKIP
    """
    fmts = [f.lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise ValueError(f"unsupported format(s) {bad}; choose from {FORMATS}")
    wanted = list(FIGURES if figures is None else figures)
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {FIGURES}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Any]] = []
    for name in FIGURES:
        if name not in wanted or not _applies(result, name, rows, comparison):
            continue
        if name == "persona_shares":
            jobs.append((name, lambda: plot_persona_shares(result)))
        elif name == "fingerprints":
            jobs.append((name, lambda: plot_fingerprints(result)))
        elif name == "question_shifts":
            jobs.append((name, lambda: plot_question_shifts(result)))
        elif name == "ppc":
            for m in result.data.measures:
                jobs.append((f"ppc_{m}", lambda m=m: plot_ppc(result, measure=m, seed=seed)))
        elif name == "threshold_rates":
            jobs.append((name, lambda: plot_threshold_rates(result, published=published)))
        elif name == "answer_plane":
            jobs.append((name, lambda: plot_answer_plane(result, rows, seed=seed)))
        elif name == "model_comparison":
            jobs.append((name, lambda: plot_model_comparison(comparison)))
    paths: list[Path] = []
    for stem, make in jobs:
        paths += save_figure(make(), folder, stem, formats=fmts)
    return paths


def save_figure(fig, folder: str | Path, stem: str, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``folder/stem.<format>`` for each format (PNG, PDF, SVG) in the paper style, with
    deterministic metadata (no creation date), so the same figure gives the same files; return the paths.

    >>> save_figure(plot_persona_shares(result), "figures", "shares", formats=("pdf",))   # doctest: +SKIP
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with paper_style():
        for f in formats:
            f = f.lower().lstrip(".")
            if f not in FORMATS:
                raise ValueError(f"unsupported format {f!r}; choose from {FORMATS}")
            p = folder / f"{stem}.{f}"
            fig.savefig(p, format=f, metadata=_SAVE_METADATA[f], bbox_inches="tight", pad_inches=0.03)
            paths.append(p)
    return paths


__all__ = ["FIGURES", "FORMATS", "KNOWN_PERSONAS", "OKABE_ITO", "PAPER_RC", "condition_groups", "paper_style",
           "persona_colors", "plot_answer_plane", "plot_elpd_by_condition", "plot_fingerprints",
           "plot_model_comparison", "plot_persona_shares", "plot_ppc", "plot_question_shifts", "plot_rank_histograms",
           "plot_threshold_rates", "predictive_categories", "save_figure", "show_figures_in_jupyter",
           "write_figures"]
