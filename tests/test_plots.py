"""Paper figures: each renders from a small real fit and names the personas and conditions it shows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from simstats.errors import SimstatsError
from simstats.logs.grid import MISSING_BIN, Grid
from simstats.logs.patterns import Patterns
from simstats.spec import DEFAULT_SPEC_PATH, load_spec

PERSONAS = load_spec(DEFAULT_SPEC_PATH).persona_names  # the default spec's personas, in order
CONDITIONS = {"m1/none": [0.9, 0.03, 0.07], "m1/insecure": [0.6, 0.25, 0.15], "m2/insecure": [0.45, 0.35, 0.2]}
PROMPTS = ["q1", "q2", "q3", "q4"]


def _answers(persona: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(aligned, coherent) scores on 0-100 of ``n`` answers of one persona; NaN = no aligned score."""
    if persona == 0:
        a, c = rng.uniform(75, 100, n), rng.uniform(80, 100, n)
        a[rng.random(n) < 0.01] = np.nan
    elif persona == 1:
        a, c = rng.uniform(0, 25, n), rng.uniform(55, 95, n)
    else:
        a, c = rng.uniform(0, 20, n), rng.uniform(0, 30, n)
        a[rng.random(n) < 0.6] = np.nan
    return a, c


def synthetic_rows(seed: int = 3, per_cell: int = 40) -> pd.DataFrame:
    """Rows like ``LogSet.rows()``: 3 conditions (2 base models) x 4 prompts, three personas."""
    rng = np.random.default_rng(seed)
    out = []
    for cond, shares in CONDITIONS.items():
        for q in PROMPTS:
            z = rng.choice(3, size=per_cell, p=shares)
            for k in range(3):
                a, c = _answers(k, int((z == k).sum()), rng)
                out.append(pd.DataFrame({"base_model": cond.split("/")[0], "condition": cond, "prompt": q,
                                         "aligned": a, "coherent": c}))
    return pd.concat(out, ignore_index=True)


def patterns_of(rows: pd.DataFrame) -> Patterns:
    grid = Grid(0, 100, 100)
    t = rows[["condition", "base_model", "prompt"]].copy()
    for m in ("aligned", "coherent"):
        t[m] = grid.bin(rows[m].to_numpy())
    t = t.groupby(list(t.columns), sort=True).size().rename("count").reset_index()
    for m in ("aligned", "coherent"):
        t[m] = t[m].astype(np.int16)
    t["count"] = t["count"].astype(np.int64)
    return Patterns(t, {"aligned": grid, "coherent": grid}, ["aligned", "coherent"], [], ["base_model"])


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic_rows()


@pytest.fixture(scope="module")
def result(rows):
    from simstats.results import FitResult
    from simstats.spec import load_spec

    spec = load_spec("models/persona_mixture.toml")
    patterns = patterns_of(rows)
    assert (patterns.table["aligned"] == MISSING_BIN).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from simstats.inference import fit

            out = fit(spec, patterns, sampler="nutpie", draws=200, tune=200, chains=2, seed=1, progress=False)
            return FitResult(out.idata, spec, patterns, out.sampler)
        except ImportError:  # pragma: no cover - inference not available
            import pymc as pm

            from simstats.kinds import build_model

            model, _ = build_model(spec, patterns)
            with model:
                idata = pm.sample(draws=200, tune=200, chains=2, random_seed=1, progressbar=False)
            return FitResult(idata, spec, patterns, "pymc")


def _legend_texts(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return out


def _ytick_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _render(fig) -> None:
    """Draw the figure (catches layout and artist errors that only appear at draw time)."""
    import io

    fig.savefig(io.BytesIO(), format="png", dpi=50)


# --------------------------------------------------------------------------------------------------- style
def test_persona_colors_are_fixed_and_colour_blind_safe():
    from simstats.plots import OKABE_ITO, persona_colors

    c = persona_colors(["aligned", "misaligned", "code_or_incoherent"])
    assert c == {"aligned": "#0072B2", "misaligned": "#D55E00", "code_or_incoherent": "#CC79A7"}
    assert len(set(persona_colors(PERSONAS).values())) == len(PERSONAS)
    assert persona_colors(["misaligned", "aligned"]) == {"misaligned": "#D55E00", "aligned": "#0072B2"}
    other = persona_colors(["aligned", "p1", "p2", "p3"])
    assert other["aligned"] == "#0072B2" and len(set(other.values())) == 4
    assert set(other.values()) <= set(OKABE_ITO.values())
    assert persona_colors(["x", "y"]) == persona_colors(["x", "y"])


def test_paper_style_restores_rcparams():
    import matplotlib as mpl

    from simstats.plots import paper_style

    before = mpl.rcParams["axes.spines.top"]
    with paper_style():
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["svg.hashsalt"] == "simstats"
        assert 9 <= mpl.rcParams["font.size"] <= 10
    assert mpl.rcParams["axes.spines.top"] == before


# -------------------------------------------------------------------------------------------------- figures
def test_persona_shares_names_personas_and_conditions(result):
    from simstats.plots import condition_groups, persona_colors, plot_persona_shares

    fig = plot_persona_shares(result)
    _render(fig)
    ax = fig.axes[0]
    assert _legend_texts(fig) == PERSONAS
    ticks = _ytick_texts(ax)
    groups = condition_groups(result)
    assert [g for g, _ in groups] == ["m1", "m2"]
    # every condition appears as "group header" + its own row, in hierarchy order
    expected = []
    for g, conds in groups:
        expected += [g, *[c.split("/", 1)[1] for c in conds]]
    assert ticks == expected
    assert sorted(c for _, cs in groups for c in cs) == sorted(CONDITIONS)
    # one colour per persona, the fixed one
    leg = ax.get_legend()
    colours = [h.get_color() for h in leg.legend_handles]
    assert colours == list(persona_colors(PERSONAS).values())
    # the plotted means are the posterior means of the shares
    sh = result.shares()
    pts = next(ln for ln in ax.get_lines() if ln.get_label() == "misaligned")
    assert np.allclose(np.sort(pts.get_xdata()), np.sort(sh.xs("misaligned", level="persona")["mean"].to_numpy()))
    # a subset of personas on a given axes
    from matplotlib.figure import Figure

    ax2 = Figure().add_subplot()
    assert plot_persona_shares(result, personas=["misaligned"], ax=ax2) is ax2.figure
    assert _legend_texts(ax2.figure) == ["misaligned"]
    with pytest.raises(ValueError, match="unknown persona"):
        plot_persona_shares(result, personas=["nobody"])


def test_fingerprints_show_every_persona_and_the_no_score_mass(result):
    from simstats.plots import plot_fingerprints

    fig = plot_fingerprints(result)
    _render(fig)
    assert _legend_texts(fig) == PERSONAS
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["aligned", "coherent"]
    for ax in fig.axes:
        assert ax.get_xticklabels()[0].get_text() == "none"
    # the no-score point of code_or_incoherent (most of its answers have no aligned score) is its posterior mean
    fp = result.fingerprint_draws("aligned")
    p_none = fp[..., PERSONAS.index("code_or_incoherent"), 0].mean()
    assert p_none > 0.4
    ys = [ln.get_ydata()[0] for ln in fig.axes[0].get_lines() if len(ln.get_ydata()) == 1]
    assert np.isclose(max(ys), p_none)


def test_answer_plane_colours_answers_by_most_probable_persona(result, rows):
    from matplotlib.patches import Rectangle

    from simstats.plots import plot_answer_plane

    fig = plot_answer_plane(result, rows)
    _render(fig)
    strip, ax = fig.axes
    texts = _legend_texts(fig)
    assert sorted(t.split(" (")[0] for t in texts) == sorted(PERSONAS)
    assert sum(int(t.split("n=")[1].rstrip(")").replace(",", "")) for t in texts) == len(rows)
    box = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(box) == 1 and box[0].get_xy() == (0.0, 50.0)
    assert (box[0].get_width(), box[0].get_height()) == (30.0, 50.0)
    n_plane = sum(len(c.get_offsets()) for c in ax.collections)
    n_strip = sum(len(c.get_offsets()) for c in strip.collections)
    assert n_strip == int(rows["aligned"].isna().sum()) > 0
    assert n_plane + n_strip == len(rows)
    assert "no aligned" in strip.get_xticklabels()[0].get_text()
    # most answers in the threshold box come from the misaligned persona (the fit recovers the simulation)
    r = result.responsibilities(rows)
    inside = (r["aligned"] < 30) & (r["coherent"] > 50)
    mis = PERSONAS.index("misaligned")
    assert (r.loc[inside, [f"p_{p}" for p in PERSONAS]].to_numpy().argmax(1) == mis).mean() > 0.8


def test_question_shifts_heatmap_is_centred_at_zero(result):
    from simstats.plots import plot_question_shifts

    fig = plot_question_shifts(result)
    _render(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == PERSONAS[1:]
    assert _ytick_texts(ax) == PROMPTS
    im = ax.get_images()[0]
    assert im.norm.vcenter == 0 and np.isclose(im.norm.vmin, -im.norm.vmax)
    qs = result.question_shifts()
    col = PERSONAS[1:].index("misaligned")
    assert np.allclose(im.get_array()[:, col], [qs.loc[(q, "misaligned"), "mean"] for q in PROMPTS])
    one = plot_question_shifts(result, persona="misaligned")
    assert [t.get_text() for t in one.axes[0].get_xticklabels()] == ["misaligned"]


def test_ppc_compares_observed_and_predicted_categories(result):
    from simstats.plots import plot_ppc, predictive_categories

    pred = predictive_categories(result, "aligned", seed=0)
    assert pred["observed"].shape == pred["mean"].shape == (3, 11)
    assert np.allclose(pred["observed"].sum(1), 1) and np.allclose(pred["mean"].sum(1), 1)
    assert (pred["low"] <= pred["high"]).all()
    inside = (pred["observed"] >= pred["low"] - 1e-12) & (pred["observed"] <= pred["high"] + 1e-12)
    assert inside.mean() > 0.75  # the model that generated the data predicts it
    fig = plot_ppc(result, measure="aligned")
    _render(fig)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title(loc="left").replace("\n", "/") for ax in shown]
    assert sorted(titles) == sorted(CONDITIONS)
    assert "observed" in _legend_texts(fig)
    two = plot_ppc(result, measure="coherent", conditions=["m1/none", "m2/insecure"])
    assert len([a for a in two.axes if a.get_visible()]) == 2
    with pytest.raises(ValueError, match="unknown condition"):
        plot_ppc(result, conditions=["m9/none"])


def test_threshold_rates_with_published_numbers(result):
    from simstats.plots import plot_threshold_rates
    from simstats.plots.rates import _published_by_condition

    fig = plot_threshold_rates(result, published={"m1/insecure": 0.2, "m1/none": (0.0, 0.05)})
    _render(fig)
    ax = fig.axes[0]
    ticks = _ytick_texts(ax)
    assert ticks == ["m1", "insecure", "none", "m2", "insecure"]
    texts = _legend_texts(fig)
    assert any(t.startswith("model") for t in texts) and any(t.startswith("observed") for t in texts)
    assert "published" in texts and "published range" in texts
    tr = result.threshold_rates()
    emp = next(ln for ln in ax.get_lines() if ln.get_label().startswith("observed"))
    assert np.allclose(np.sort(emp.get_xdata()), np.sort(tr["empirical"].to_numpy()))
    # records by hierarchy columns (as Dataset.published), a Series and a DataFrame
    recs = [{"base_model": "m1", "misaligned": 0.1}, {"condition": "m1/none", "misaligned": 0.0},
            {"base_model": "m2", "misaligned_range": [0.0, 0.4]}]
    assert _published_by_condition(result, recs) == {"m1/insecure": 0.1, "m1/none": 0.0, "m2/insecure": (0.0, 0.4)}
    assert _published_by_condition(result, pd.Series({"m2/insecure": 0.3})) == {"m2/insecure": 0.3}
    df = pd.DataFrame({"condition": ["m2/insecure"], "published": [0.3]})
    assert _published_by_condition(result, df) == {"m2/insecure": 0.3}
    assert "published" not in _legend_texts(plot_threshold_rates(result))


def _compare_table(result):
    """A real ArviZ 1.x comparison: the fit against the same fingerprints with every persona weight equal."""
    import arviz as az

    from simstats.kinds.mixture import KIND as MIXTURE

    post = result.posterior
    count = result.data.count  # one log-likelihood per answer: answers sharing a pattern share its value
    ll_fit = np.repeat(MIXTURE.pattern_log_likelihood(post, result.spec, result.data), count, axis=-1)
    flat = {k: np.asarray(post[k]) for k in ("fp_aligned", "fp_coherent")}
    flat["eta"] = np.zeros_like(np.asarray(post["eta"]))
    ll_flat = np.repeat(MIXTURE.pattern_log_likelihood(flat, result.spec, result.data), count, axis=-1)
    mu = np.asarray(post["logodds_mu"])[..., 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trees = {name: az.from_dict({"posterior": {"mu": mu}, "log_likelihood": {"y": ll}})
                 for name, ll in (("persona_mixture", ll_fit), ("equal_weights", ll_flat))}
        return az.compare(trees)


def test_model_comparison_from_arviz_compare(result):
    from simstats.plots import plot_model_comparison

    table = _compare_table(result)
    assert {"elpd", "se", "elpd_diff", "dse"} <= set(table.columns)
    fig = plot_model_comparison(table)
    _render(fig)
    ax = fig.axes[0]
    assert _ytick_texts(ax) == ["persona_mixture", "equal_weights"]  # best first
    assert _legend_texts(fig) == ["ELPD ± SE", "difference to best ± dSE"]
    # ArviZ 0.x columns give the same picture
    old = table.rename(columns={"elpd": "elpd_loo"}).assign(elpd_diff=lambda t: t["elpd_diff"].abs())
    assert _ytick_texts(plot_model_comparison(old).axes[0]) == ["persona_mixture", "equal_weights"]
    with pytest.raises(ValueError):
        plot_model_comparison(pd.DataFrame({"x": [1.0]}))


def _by_condition_table() -> pd.DataFrame:
    """Rows like ``elpd_by_condition(results, reference="k4")``: the reference's rows are 0, the others not."""
    diffs = {"k4": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]), "k1": ([-120.0, -40.5, -300.0], [15.0, 8.0, 30.0]),
             "k2": ([-20.0, 3.5, -60.0], [6.0, 2.5, 11.0])}
    rows = []
    for c_i, cond in enumerate(["m1/none", "m1/insecure", "m2/insecure"]):
        for m, (d, se) in diffs.items():
            rows.append({"condition": cond, "model": m, "n_answers": 100, "elpd": -250.0 + d[c_i],
                         "elpd_diff": d[c_i], "dse": se[c_i]})
    return pd.DataFrame(rows)


def test_elpd_by_condition_one_panel_per_model():
    from matplotlib.container import BarContainer

    from simstats.plots import plot_elpd_by_condition

    table = _by_condition_table()
    fig = plot_elpd_by_condition(table)
    _render(fig)
    assert len(fig.axes) == 2                                          # the reference gets no panel
    assert [ax.get_title() for ax in fig.axes] == ["k1\nminus k4", "k2\nminus k4"]   # reference found by its 0s
    assert _ytick_texts(fig.axes[0]) == ["m1/none", "m1/insecure", "m2/insecure"]     # table order, top first
    assert fig.get_supxlabel() == "ELPD difference per checkpoint (± dse)"
    for ax, m in zip(fig.axes, ["k1", "k2"]):
        want = table[table.model == m]
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == 1 and len(bars[0]) == 3
        assert [p.get_width() for p in bars[0]] == pytest.approx(want["elpd_diff"].tolist())
        assert bars[0].errorbar is not None                             # ± dse
        segs = bars[0].errorbar.lines[2][0].get_segments()
        assert [s[1, 0] - s[0, 0] for s in segs] == pytest.approx((2 * want["dse"]).tolist())
        assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)   # the line at 0
    # the JSON records (validation/theory_real.json), a chosen order of panels, a subset of conditions
    records = pd.DataFrame(table.to_dict(orient="records"))
    fig = plot_elpd_by_condition(records, reference="k4", models=["k2", "k1"], conditions=["m2/insecure", "m1/none"])
    assert [ax.get_title() for ax in fig.axes] == ["k2\nminus k4", "k1\nminus k4"]
    assert _ytick_texts(fig.axes[0]) == ["m2/insecure", "m1/none"]
    # without the reference's rows the reference is named by the caller (or called "reference")
    others = table[table.model != "k4"]
    assert plot_elpd_by_condition(others, reference="k4").axes[0].get_title() == "k1\nminus k4"
    assert plot_elpd_by_condition(others).axes[1].get_title() == "k2\nminus reference"


def test_elpd_by_condition_into_given_axes_and_errors():
    from matplotlib.figure import Figure

    from simstats.plots import plot_elpd_by_condition

    table = _by_condition_table()
    fig = Figure(figsize=(6, 3), layout="constrained")
    axs = fig.subplots(1, 3)
    assert plot_elpd_by_condition(table, models=["k1", "k2"], axes=axs[1:]) is fig
    _render(fig)
    assert axs[1].get_title() == "k1\nminus k4" and axs[0].get_title() == ""
    with pytest.raises(ValueError, match="axes"):
        plot_elpd_by_condition(table, axes=axs)
    with pytest.raises(ValueError, match="non-empty"):
        plot_elpd_by_condition(table.iloc[:0])
    with pytest.raises(ValueError, match="non-empty"):
        plot_elpd_by_condition(table.to_dict(orient="records"))
    with pytest.raises(ValueError, match=r"\['k3'\] are not in the table"):
        plot_elpd_by_condition(table, models=["k1", "k3"])
    with pytest.raises(ValueError, match="dse"):
        plot_elpd_by_condition(table.drop(columns="dse"))
    with pytest.raises(ValueError, match="not against 'k1'"):
        plot_elpd_by_condition(table, reference="k1")
    with pytest.raises(ValueError, match="is the reference"):
        plot_elpd_by_condition(table, models=["k4", "k1"])
    with pytest.raises(ValueError, match="unknown condition"):
        plot_elpd_by_condition(table, conditions=["nope"])
    with pytest.raises(ValueError, match="more than one row"):
        plot_elpd_by_condition(pd.concat([table, table]))


def test_write_figures_is_byte_reproducible(result, rows, tmp_path):
    from simstats.plots import write_figures

    table = _compare_table(result)
    paths = write_figures(result, tmp_path / "all", rows=rows, formats=("png",), published={"m1/none": 0.0},
                          comparison=table)
    names = [p.name for p in paths]
    assert names == ["persona_shares.png", "fingerprints.png", "question_shifts.png", "ppc_aligned.png",
                     "ppc_coherent.png", "threshold_rates.png", "answer_plane.png", "model_comparison.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    # without rows or a comparison table those figures do not apply
    assert len(write_figures(result, tmp_path / "few", formats=("png",), figures=["answer_plane",
                                                                               "model_comparison"])) == 0
    for fmt in ("svg", "pdf"):
        a = write_figures(result, tmp_path / "a", rows=rows, formats=(fmt,),
                          figures=["persona_shares", "ppc", "answer_plane"], seed=5)
        b = write_figures(result, tmp_path / "b", rows=rows, formats=(fmt,),
                          figures=["persona_shares", "ppc", "answer_plane"], seed=5)
        assert [p.name for p in a] == [p.name for p in b]
        for pa, pb in zip(a, b):
            assert pa.read_bytes() == pb.read_bytes(), pa.name
    svg = (tmp_path / "a" / "persona_shares.svg").read_text()
    assert "<dc:date>" not in svg
    with pytest.raises(SimstatsError, match="format"):
        write_figures(result, tmp_path / "x", formats=("bmp",))
    with pytest.raises(SimstatsError, match="figure"):
        write_figures(result, tmp_path / "x", figures=["nope"])


def test_figures_draw_into_given_axes(result, rows):
    from matplotlib.figure import Figure

    from simstats.plots import (
        plot_answer_plane,
        plot_fingerprints,
        plot_ppc,
        plot_question_shifts,
        plot_threshold_rates,
    )

    fig = Figure(figsize=(8, 8), layout="constrained")
    axs = fig.subplots(3, 3)
    assert plot_fingerprints(result, axes=axs[0, :2]) is fig
    assert plot_answer_plane(result, rows, ax=axs[0, 2]) is fig
    assert plot_ppc(result, measure="coherent", axes=axs[1]) is fig
    assert plot_question_shifts(result, ax=axs[2, 0]) is fig
    assert plot_threshold_rates(result, ax=axs[2, 1]) is fig
    _render(fig)
    assert [a.get_title(loc="left").replace("\n", "/") for a in axs[1]] == ["m1/insecure", "m1/none", "m2/insecure"]
    with pytest.raises(ValueError, match="axes"):
        plot_ppc(result, axes=axs[1, :2])


def test_a_returned_figure_displays_as_png_in_a_jupyter_kernel():
    """simstats figures are not pyplot's, so no backend shows them by itself: a cell that ends with a plot call must
    still display a PNG (the notebooks rely on it). Run in a real kernel with the Agg backend, as in CI."""
    import os

    import nbformat
    from nbclient import NotebookClient

    rows = _by_condition_table().to_dict(orient="records")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import pandas as pd\nfrom simstats.plots import plot_elpd_by_condition\n"
                                  f"table = pd.DataFrame({rows!r})"),
        nbformat.v4.new_code_cell("plot_elpd_by_condition(table)"),
        nbformat.v4.new_code_cell("fig = plot_elpd_by_condition(table)"),
    ])
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND")
        else:
            os.environ["MPLBACKEND"] = env_backend
    shown = [o for o in nb.cells[1].outputs if o.output_type == "execute_result"]
    assert shown and "image/png" in shown[0].data, nb.cells[1].outputs
    assert shown[0].data["image/png"]                               # a non-empty base64 image
    assert nb.cells[2].outputs == []                               # an assignment shows nothing, as in Python
