"""Paper figures of a fitted model, in one consistent style.

Every figure is computed from the posterior draws of a :class:`~simstats.results.FitResult` (no refitting, no
extra sampling) and drawn with plain matplotlib on a :class:`matplotlib.figure.Figure` that is *not* registered with
pyplot (no GUI backend is touched; in Jupyter a returned figure displays as a PNG whatever the backend, see
:func:`show_figures_in_jupyter`). Each function takes the result first, then keyword-only options and an optional
``ax=`` / ``axes=`` to draw into; it returns the Figure.

- :func:`plot_persona_shares`: forest plot of each condition's persona shares (conditions grouped by hierarchy).
- :func:`plot_fingerprints`: each persona's score distribution per measure, the no-score mass set apart.
- :func:`plot_answer_plane`: the plane of two scores, answers coloured by their most probable persona, with a
  behaviour's box; answers without an x score in a strip at the left.
- :func:`plot_question_shifts`: heatmap of per-question shifts of persona log-odds (diverging, centred at 0).
- :func:`plot_ppc`: posterior predictive check of a measure's categories per condition (small multiples).
- :func:`plot_threshold_rates`: empirical vs model rate of a behaviour per condition, with published numbers.
- :func:`plot_rate_model`: the classic rate model's pooled rates against the empirical and unpooled ones.
- :func:`plot_model_comparison`: ELPD with standard errors from an ``az.compare`` table.
- :func:`plot_elpd_by_condition`: each model's ELPD difference to a reference, condition by condition (± dse).
- :func:`plot_rank_histograms`: simulation-based calibration rank histograms per quantity group.
- :func:`write_figures`: write every figure of the registry that applies, byte-reproducible for a seed.

Style: :func:`paper_style` (a context manager over :data:`PAPER_RC`) and :func:`persona_colors`, which gives each
persona a fixed colour of the colour-blind-safe Okabe-Ito palette in every figure.

>>> from simstats.results import load_result                     # doctest: +SKIP
>>> fig = plot_persona_shares(load_result("runs/em"))             # doctest: +SKIP
>>> write_figures(load_result("runs/em"), "figures")              # doctest: +SKIP
"""

from simstats.plots.calibration import plot_rank_histograms
from simstats.plots.comparison import plot_elpd_by_condition, plot_model_comparison
from simstats.plots.fingerprints import plot_fingerprints
from simstats.plots.layout import condition_groups
from simstats.plots.plane import plot_answer_plane
from simstats.plots.ppc import plot_ppc, predictive_categories
from simstats.plots.questions import plot_question_shifts
from simstats.plots.rates import plot_rate_model, plot_threshold_rates
from simstats.plots.registry import FIGURES, FORMATS, REGISTRY, save_figure, write_figures
from simstats.plots.shares import plot_persona_shares
from simstats.plots.style import (
           KNOWN_PERSONAS,
           OKABE_ITO,
           PAPER_RC,
           paper_style,
           persona_colors,
           show_figures_in_jupyter,
)

__all__ = ["FIGURES", "FORMATS", "KNOWN_PERSONAS", "OKABE_ITO", "PAPER_RC", "REGISTRY", "condition_groups",
           "paper_style", "persona_colors", "plot_answer_plane", "plot_elpd_by_condition", "plot_fingerprints",
           "plot_model_comparison", "plot_persona_shares", "plot_ppc", "plot_question_shifts", "plot_rank_histograms",
           "plot_rate_model", "plot_threshold_rates", "predictive_categories", "save_figure",
           "show_figures_in_jupyter", "write_figures"]
