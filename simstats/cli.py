"""The `simstats` command line (typer + rich).

User errors (bad input, bad roles, bad spec) end with exit status 2 and one line on stderr; nothing is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from simstats.errors import SimstatsError
from simstats.report.text import plain_console

app = typer.Typer(help="Bayesian persona models for logged LLM outputs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Read, check and summarise logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = plain_console()
err = plain_console(stderr=True)

PathsArg = Annotated[list[Path] | None, typer.Argument(
    help="Log files or folders (CSV, JSONL, JSON, Parquet, Inspect .eval). Default: the bundled clarifying-em data.",
    show_default=False)]
ConditionOpt = Annotated[list[str] | None, typer.Option(
    "--condition", help="Column(s) naming the checkpoint, coarsest first (repeat the flag). Default: file stem.")]
FromFilenameOpt = Annotated[str | None, typer.Option(
    "--condition-from-filename", help="Regex with named groups over file names, e.g. 'responses_(?P<model>.+)\\.csv'.")]
PromptOpt = Annotated[str | None, typer.Option("--prompt", help="Question-id column. Default: question_id.")]
PromptRegexOpt = Annotated[str | None, typer.Option(
    "--prompt-regex", help="Regex with a named group 'prompt' (others become prompt features). Default: the EM "
    "convention that splits a _json / _template suffix into a 'format' feature; '' turns it off.")]
MeasureOpt = Annotated[str | None, typer.Option(
    "--measure", help="Measure column(s), comma-separated, each NAME or NAME:KIND with KIND bounded (a 0-100 score, "
    "the default), binary (1/0, true/false, yes/no, C/I, pass/fail), categorical (levels read from the data) or "
    "continuous (any number; grid from the data's range). Default: aligned,coherent.")]
BehaviourOpt = Annotated[list[str] | None, typer.Option(
    "--behaviour", help="A thresholded behaviour to count, 'NAME: RULE' such as 'misaligned: aligned < 30 and "
    "coherent > 50' (repeat the flag). Default: those of the roles (EM logs: misaligned).")]
ConditionDefaultOpt = Annotated[list[str] | None, typer.Option(
    "--condition-default", help="PART=VALUE for a file-name group that a file name lacks, e.g. epochs=1 (repeat "
    "the flag). Default: 'none'.")]
VerdictOpt = Annotated[str | None, typer.Option("--verdict", help="Column of categorical verdicts (CODE, ...).")]
IdOpt = Annotated[str | None, typer.Option("--id", help="Column of answer ids that must be unique.")]
RolesOpt = Annotated[Path | None, typer.Option("--roles", help="TOML roles file (flags override it).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _measures(text: str):
    """``--measure a,b:binary,c:continuous`` -> Measure objects."""
    from simstats.logs.roles import MEASURE_KINDS, Measure

    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, kind = part.partition(":")
        kind = kind.strip() or "bounded"
        if kind not in MEASURE_KINDS:
            raise SimstatsError(f"--measure {part!r}: the kind must be one of {', '.join(MEASURE_KINDS)}")
        out.append(Measure(name.strip(), kind=kind, lower=None, upper=None) if kind == "continuous"
                   else Measure(name.strip(), kind=kind))
    return out


def _pairs(option: str, items: list[str], sep: str) -> dict[str, str]:
    """``NAME<sep>VALUE`` flags -> {name: value}."""
    out = {}
    for item in items:
        name, found, value = item.partition(sep)
        if not found or not name.strip() or not value.strip():
            raise SimstatsError(f"{option} {item!r}: write NAME{sep}VALUE")
        if name.strip() in out:                # which one would count? refuse rather than keep the last
            raise SimstatsError(f"{option} names {name.strip()!r} twice; give each name once")
        out[name.strip()] = value.strip()
    return out


def resolve_roles(paths: list[Path] | None, condition: list[str] | None, from_filename: str | None,
                  prompt: str | None, prompt_regex: str | None, measure: str | None, verdict: str | None,
                  id_column: str | None, roles_file: Path | None, behaviour: list[str] | None = None,
                  condition_default: list[str] | None = None):
    """Roles from a file and/or flags; with no paths and no roles, the bundled dataset and its roles."""
    from simstats.datasets import clarifying_em_path, clarifying_em_roles
    from simstats.logs.roles import em_roles, load_roles, rule_measures

    flags = (condition, from_filename, prompt, prompt_regex, measure, verdict, id_column, roles_file, behaviour,
             condition_default)
    if not paths:
        if any(v is not None for v in flags):
            raise SimstatsError("role flags need log paths; without paths simstats uses the bundled dataset")
        return [clarifying_em_path()], clarifying_em_roles()
    named = [("--prompt", prompt), ("--verdict", verdict), ("--id", id_column), ("--measure", measure),
             ("--condition-from-filename", from_filename), *(("--condition", c) for c in condition or [])]
    for option, value in named:
        if value is not None and not value.strip():      # an empty flag is a mistake, not "the default"
            raise SimstatsError(f"{option} '': give a column name" if option != "--condition-from-filename"
                                else f"{option} '': give a regular expression with named groups")
    if condition and from_filename:
        raise SimstatsError("give --condition COLUMN or --condition-from-filename REGEX, not both")
    roles = load_roles(roles_file) if roles_file else em_roles()
    changes: dict = {}
    if condition:
        changes.update(condition=list(condition), condition_from_filename=None)
    if from_filename:
        changes.update(condition_from_filename=from_filename, condition=[])
    if prompt:
        changes["prompt"] = prompt
    if prompt_regex is not None:
        changes["prompt_regex"] = prompt_regex or None
    if measure:
        changes["measures"] = _measures(measure)
        keys = {m.key for m in changes["measures"]}
        if not roles_file:     # the EM preset's behaviour applies only while its measures are there
            changes["behaviours"] = {n: r for n, r in roles.behaviours.items() if set(rule_measures(r)) <= keys}
    if behaviour:
        changes["behaviours"] = _pairs("--behaviour", behaviour, ":")
    if condition_default:
        changes["condition_defaults"] = _pairs("--condition-default", condition_default, "=")
    if verdict:
        changes["verdict"] = verdict
    if id_column:
        changes["id"] = id_column
    return list(paths), roles.replace(**changes) if changes else roles


@data_app.command("check")
def data_check(paths: PathsArg = None, condition: ConditionOpt = None, condition_from_filename: FromFilenameOpt = None,
               prompt: PromptOpt = None, prompt_regex: PromptRegexOpt = None, measure: MeasureOpt = None,
               verdict: VerdictOpt = None, id: IdOpt = None, roles: RolesOpt = None, behaviour: BehaviourOpt = None,
               condition_default: ConditionDefaultOpt = None, json_: JsonOpt = False) -> None:
    """Check logs and account for every row: used, or excluded with a reason."""
    from simstats.logs import open_logs
    from simstats.report.summary import summarise

    files, r = resolve_roles(paths, condition, condition_from_filename, prompt, prompt_regex, measure, verdict,
                             id, roles, behaviour, condition_default)
    summary = summarise(open_logs(files, r))
    if json_:
        out.print_json(json.dumps(summary))
        return
    from simstats.report.text import print_summary

    print_summary(summary, out)


SamplerOpt = Annotated[str | None, typer.Option(
    "--sampler", help="nutpie (default), pymc, numpyro, blackjax, advi or pathfinder.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, max=2 ** 32 - 1,
                                             help="Random seed, 0 to 2^32 - 1 (reproducible draws).")]
DrawsOpt = Annotated[int | None, typer.Option("--draws", min=1, max=10_000_000, help=(
    "Posterior draws per chain, exactly (default: the spec's [sampler]: draw until the convergence gate, within "
    "its budget of draws per chain); with --until-gate, the budget."))]
UntilGateOpt = Annotated[bool, typer.Option("--until-gate", help="With --draws N: sample to the convergence gate "
                                            "(R-hat <= 1.01, ESS >= 400) within N draws per chain.")]
TuneOpt = Annotated[int | None, typer.Option("--tune", min=0, max=10_000_000, help="Tuning steps per chain.")]
ChainsOpt = Annotated[int | None, typer.Option("--chains", min=1, max=64, help="Number of chains.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an earlier output of simstats at the output path "
                                        "(never anything else); the old one stays until the new one is complete.")]


def _report_exit(report: dict) -> None:
    if report["diagnostics"]["status"] == "failed":
        err.print(Text.assemble(("the fit failed its diagnostics; its persona shares are not reported:", "red"),
                                " " + "; ".join(report["diagnostics"]["messages"])), highlight=False)
        raise typer.Exit(1)


@app.command("fit")
def fit_cmd(spec: Annotated[Path, typer.Argument(help="Model spec (TOML), e.g. models/persona_mixture.toml.")],
            paths: PathsArg = None,
            out_dir: Annotated[Path, typer.Option("--out", help="Folder for the result (replaced atomically).")] = Path("runs/fit"),
            condition: ConditionOpt = None, condition_from_filename: FromFilenameOpt = None, prompt: PromptOpt = None,
            prompt_regex: PromptRegexOpt = None, measure: MeasureOpt = None, verdict: VerdictOpt = None,
            id: IdOpt = None, roles: RolesOpt = None, behaviour: BehaviourOpt = None,
            condition_default: ConditionDefaultOpt = None, sampler: SamplerOpt = None, seed: SeedOpt = None,
            draws: DrawsOpt = None, tune: TuneOpt = None, chains: ChainsOpt = None, until_gate: UntilGateOpt = False,
            json_: JsonOpt = False, force: ForceOpt = False,
            fingerprints_from: Annotated[Path | None, typer.Option(
                "--fingerprints-from", help="A result folder whose personas to reuse: its posterior fingerprints "
                "become this fit's priors (a small log keeps the personas a large one learned).")] = None,
            fingerprints_fixed: Annotated[bool, typer.Option(
                "--fingerprints-fixed", help="With --fingerprints-from: hold the fingerprints at that fit's "
                "posterior mean instead (ignores its uncertainty).")] = False) -> None:
    """Fit a persona model to logs and save the result to --out."""
    from simstats.logs import open_logs
    from simstats.outputs import claim_output
    from simstats.report.text import public_report
    from simstats.results.store import is_result_folder, load_result, save_result
    from simstats.results.workflow import fit, resolve_spec

    # before anything is fitted: a path that cannot be written fails now, not after minutes of sampling
    claim_output(out_dir, ours=is_result_folder, what="simstats result folder", force=force)
    model_spec = resolve_spec(spec)  # a bad spec fails before the data are read
    if fingerprints_fixed and fingerprints_from is None:
        raise typer.BadParameter("needs --fingerprints-from RUN (the fit whose fingerprints to hold)",
                                 param_hint="--fingerprints-fixed")
    if fingerprints_from is not None:
        load_result(fingerprints_from)     # a missing or damaged source run fails before the data are read
    files, r = resolve_roles(paths, condition, condition_from_filename, prompt, prompt_regex, measure, verdict,
                             id, roles, behaviour, condition_default)
    patterns = open_logs(files, r).patterns()
    result = fit(model_spec, patterns, sampler=sampler, seed=seed, draws=draws, tune=tune, chains=chains,
                 progress=not json_, fingerprints_from=fingerprints_from, fingerprints_fixed=fingerprints_fixed,
                 until="gate" if until_gate else None)
    save_result(result, out_dir, overwrite=force)
    report = public_report(result)
    if json_:
        out.print_json(json.dumps(report, default=float))
    else:
        from simstats.report.text import print_report

        if report["diagnostics"]["status"] != "failed":
            print_report(report, out)
        out.print(f"saved to {out_dir}")
    _report_exit(report)


@app.command("report")
def report_cmd(run: Annotated[Path, typer.Argument(help="A result folder written by `simstats fit`.")],
               json_: JsonOpt = False,
               html: Annotated[Path | None, typer.Option("--html", help="Also write a standalone HTML report "
                                                          "(tables, sentences, figures embedded).")] = None,
               force: ForceOpt = False) -> None:
    """Report a saved fit: diagnostics, fingerprints, persona shares with intervals, one sentence per condition."""
    from simstats.report.html import write_html_report
    from simstats.report.text import public_report
    from simstats.results.store import load_result

    if html is not None:                       # before anything is computed
        from simstats.outputs import claim_output
        from simstats.report.html import is_html_report

        claim_output(html, ours=is_html_report, what="simstats HTML report", force=force)
    result = load_result(run)
    report = public_report(result)
    if html is not None:
        write_html_report(result, html, force=force)
        err.print(f"wrote {html}", highlight=False)
    if json_:
        out.print_json(json.dumps(report, default=float))
    elif report["diagnostics"]["status"] != "failed":
        from simstats.report.text import print_report

        print_report(report, out)
    _report_exit(report)


@app.command("rates")
def rates_cmd(paths: PathsArg = None, condition: ConditionOpt = None, condition_from_filename: FromFilenameOpt = None,
              prompt: PromptOpt = None, prompt_regex: PromptRegexOpt = None, measure: MeasureOpt = None,
              verdict: VerdictOpt = None, id: IdOpt = None, roles: RolesOpt = None, behaviour: BehaviourOpt = None,
              condition_default: ConditionDefaultOpt = None, seed: SeedOpt = None,
              draws: DrawsOpt = None, tune: TuneOpt = None, chains: ChainsOpt = None,
              by_prompt: Annotated[bool, typer.Option("--by-prompt", help="Add (condition, prompt) effects.")] = False,
              json_: JsonOpt = False) -> None:
    """The classic rate of a thresholded behaviour per condition (the roles' first; EM logs: aligned < 30 and
    coherent > 50), with partial pooling over the condition hierarchy (hierarchical binomial), beside the empirical
    rate and the unpooled Jeffreys interval."""
    from simstats.logs import open_logs
    from simstats.report.rates import print_rate_report, rate_report
    from simstats.results.rates import fit_rate_model

    files, r = resolve_roles(paths, condition, condition_from_filename, prompt, prompt_regex, measure, verdict,
                             id, roles, behaviour, condition_default)
    patterns = open_logs(files, r).patterns()
    kw = {k: v for k, v in {"draws": draws, "tune": tune, "chains": chains}.items() if v is not None}
    res = fit_rate_model(patterns, seed=seed, by_prompt=by_prompt, progress=not json_, **kw)
    d = res.diagnostics
    report = rate_report(res)
    if json_:
        out.print_json(json.dumps(report, default=float))
    else:
        print_rate_report(report, out)
    if d.status == "failed":
        raise typer.Exit(1)


@app.command("compare")
def compare_cmd(runs: Annotated[list[Path], typer.Argument(help="Two or more result folders fitted to the same log.")],
                json_: JsonOpt = False) -> None:
    """Compare fitted models by PSIS-LOO per answer: ELPD, differences to the best with their standard errors,
    stacking weights and Pareto-k warnings (ArviZ), best first."""
    from rich.table import Table

    from simstats.results.compare import compare, comparison_json, comparison_sentences
    from simstats.results.store import load_result

    names = [r.name or str(r) for r in runs]
    if len(set(names)) < len(names):
        names = [str(r) for r in runs]
    if len(set(names)) < len(names):
        raise SimstatsError("the same run is given twice")
    table = compare({nm: load_result(r) for nm, r in zip(names, runs)})
    report = comparison_json(table)
    if json_:
        out.print_json(json.dumps(report, default=float))
        return
    t = Table("model", "elpd_loo", "se", "elpd_diff", "dse", "weight", "warnings",
              title="PSIS-LOO per answer (higher elpd is better; elpd_diff = model - best)")
    for m in report["models"]:
        t.add_row(m["name"], f"{m['elpd_loo']:.1f}", f"{m['se']:.1f}", f"{m['elpd_diff']:.1f}", f"{m['dse']:.1f}",
                  f"{m['weight']:.2f}", "; ".join(m["warnings"]))
    out.print(t)
    for sentence in comparison_sentences(report):
        out.print(sentence, highlight=False)


@app.command("contrast")
def contrast_cmd(run: Annotated[Path, typer.Argument(help="A result folder written by `simstats fit`.")],
                 a: Annotated[str, typer.Argument(help="The first condition (or feature value with --feature).")],
                 b: Annotated[str, typer.Argument(help="The condition (or feature value) it is compared with.")],
                 persona: Annotated[str | None, typer.Option("--persona", help="Only this persona's share.")] = None,
                 behaviour: Annotated[str | None, typer.Option(
                     "--behaviour", help="A declared behaviour's predicted rate instead of the shares.")] = None,
                 feature: Annotated[str | None, typer.Option(
                     "--feature", help="A and B are two values of this prompt feature, compared within each "
                     "condition (e.g. --feature trigger present absent).")] = None,
                 at: Annotated[str | None, typer.Option(
                     "--at", help="Compare the two conditions on their prompts with this feature value only "
                     "(FEATURE=VALUE, e.g. --at domain=general).")] = None,
                 prob: Annotated[float, typer.Option("--prob", min=0.5, max=0.999,
                                                     help="Interval probability.")] = 0.9,
                 json_: JsonOpt = False) -> None:
    """The posterior of A minus B: each persona's share (or one persona's, or a behaviour's rate) in condition A
    minus condition B, with its interval and P(difference > 0)."""
    from rich.table import Table

    from simstats.report.text import contrast_sentence
    from simstats.results.contrast import contrast_dict
    from simstats.results.store import load_result

    result = load_result(run)
    if result.diagnostics.status == "failed":
        err.print(Text.assemble(("the fit failed its diagnostics; its contrasts would not mean anything:", "red"),
                                " " + "; ".join(result.diagnostics.messages)), highlight=False)
        raise typer.Exit(1)
    table = result.contrast(a, b, persona=persona, behaviour=behaviour, feature=feature, at=at, prob=prob)
    report = contrast_dict(table)
    if json_:
        out.print_json(json.dumps(report, default=float))
        return
    labels = list(table.index.names)
    t = Table(*labels, "mean", "low", "high", "P(> 0)",
              title=f"{report['of']}: {a} minus {b}" + (f" ({feature})" if feature else "")
              + (f" at {at}" if at else "")
              + f", {prob:.0%} intervals")
    for row in report["rows"]:
        t.add_row(*[str(row[k]) for k in labels], *[("" if row[k] is None else f"{row[k]:+.3f}")
                                                   for k in ("mean", "low", "high")],
                  "" if row["p_gt_0"] is None else f"{row['p_gt_0']:.2f}")
    out.print(t)
    for row in report["rows"]:
        out.print(contrast_sentence(" / ".join(str(row[k]) for k in labels), row, report), highlight=False)


@app.command("figures")
def figures_cmd(run: Annotated[Path, typer.Argument(help="A result folder written by `simstats fit`.")],
                out_dir: Annotated[Path, typer.Option("--out", help="Folder for the figures.")] = Path("figures"),
                formats: Annotated[str, typer.Option("--format", help="Comma-separated: png, pdf, svg.")] = "png,pdf,svg",
                seed: Annotated[int, typer.Option("--seed", min=0, max=2 ** 32 - 1,
                                                  help="Seed of the predictive draws.")] = 0,
                force: ForceOpt = False) -> None:
    """Write every figure that applies to a saved fit (persona shares, fingerprints, question shifts, posterior
    predictive checks, threshold rates) in each format."""
    from simstats.plots.registry import FORMATS, write_figures
    from simstats.results.store import load_result

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise SimstatsError(f"--format {formats!r}: choose from {', '.join(FORMATS)}")
    from simstats.outputs import claim_output, writing
    from simstats.plots.registry import is_figure_folder

    claim_output(out_dir, ours=is_figure_folder, what="simstats figure folder", force=force)
    result = load_result(run)
    if result.diagnostics.status == "failed":
        err.print(Text.assemble(("the fit failed its diagnostics; no figures of its personas are drawn:", "red"),
                                " " + "; ".join(result.diagnostics.messages)), highlight=False)
        raise typer.Exit(1)
    with writing(out_dir, ours=is_figure_folder, what="simstats figure folder", force=force, folder=True) as tmp:
        written = [out_dir / p.name for p in write_figures(result, tmp, formats=fmts, seed=seed)]
    out.print(f"wrote {len(written)} files to {out_dir}")


def _int(option: str, text: str | None) -> int | None:
    """A whole-number option read as text, so that a bad value is one line and exit 2 like every user error."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise SimstatsError(f"{option} {text!r}: give a whole number") from None


def _int_list(option: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SimstatsError(f"{option} {text!r}: give whole numbers separated by commas, e.g. 2,2,2") from None


def _features(text: str) -> dict[str, tuple[str, ...]]:
    """``format=plain,json;style=a,b`` -> {feature: levels}; '' -> no features."""
    out: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, eq, levels = part.partition("=")
        if not eq or not name.strip():
            raise SimstatsError(f"--features {text!r}: give feature=level,level (features separated by ';'), "
                                "e.g. format=plain,json")
        out[name.strip()] = tuple(v.strip() for v in levels.split(","))
    return out


def design_from_options(base, levels: str | None = None, groups: str | None = None, baseline: str | None = None,
                        questions: int | None = None, features: str | None = None, answers: int | None = None,
                        verdicts: bool | None = None):
    """``base`` (a :class:`~simstats.validation.Design`) with the design options given on the command line."""
    from dataclasses import replace

    changes: dict = {}
    if levels is not None:
        changes["levels"] = tuple(x.strip() for x in levels.split(","))
        if groups is None and len(changes["levels"]) != len(base.groups):
            n = len(changes["levels"])
            raise SimstatsError(f"--levels {levels!r} names {n} level{'s' if n != 1 else ''}; give as many group "
                                "counts with --groups")
    if groups is not None:
        changes["groups"] = _int_list("--groups", groups)
    if baseline is not None:
        changes["baseline"] = baseline or None
    if features is not None:
        changes["features"] = _features(features)
    for key, value in (("questions", questions), ("answers", answers), ("verdicts", verdicts)):
        if value is not None:
            changes[key] = value
    return replace(base, **changes) if changes else base


@app.command("simulate")
def simulate_cmd(
        spec: Annotated[Path, typer.Argument(help="Model spec (TOML) whose generative model draws the log.")],
        out_file: Annotated[Path | None, typer.Option(
            "--out", help="The log to write (.csv or .parquet; required); beside it NAME.truth.json, "
            "NAME.personas.<ext> (answer_id -> true persona) and NAME.roles.toml.", show_default=False)] = None,
        truth: Annotated[Path | None, typer.Option(
            "--truth", help="A truth file written before: simulate again with its parameters and design "
            "(design options override the design).")] = None,
        seed: Annotated[str | None, typer.Option(
            "--seed", metavar="N", help="Random seed (same seed, same files). Default: a fresh one, printed.")] = None,
        levels: Annotated[str | None, typer.Option(
            "--levels", metavar="COL,COL,...",
            help="Condition-level columns, coarsest first. Default: base_model,finetune,run.")] = None,
        groups: Annotated[str | None, typer.Option(
            "--groups", metavar="N,N,...", help="Groups per parent at each level. Default: 2,2,2.")] = None,
        baseline: Annotated[str | None, typer.Option(
            "--baseline", metavar="NAME", help="Value of the lower levels of one un-fine-tuned condition per "
            "top-level group ('' for none). Default: none.")] = None,
        questions: Annotated[str | None, typer.Option(
            "--questions", metavar="N", help="Questions. Default: 12.")] = None,
        features: Annotated[str | None, typer.Option(
            "--features", metavar="F=L,L;...", help="Prompt features, each question asked in every combination: "
            "'format=plain,json;style=a,b' (first level unmarked; '' for none). Default: format=plain,json.")] = None,
        answers: Annotated[str | None, typer.Option(
            "--answers", metavar="N", help="Answers per condition and question id. Default: 50.")] = None,
        verdicts: Annotated[bool | None, typer.Option(
            "--verdicts/--no-verdicts", help="Write a verdict column (CODE / REFUSAL when the aligned score is "
            "empty). Default: when the spec's personas declare verdicts, or an answer can have no score at all.",
            show_default=False)] = None,
        json_: JsonOpt = False, force: ForceOpt = False) -> None:
    """Draw a synthetic row-level log from a spec's generative model (parameters from the priors, or --truth)."""
    from simstats.results.workflow import resolve_spec
    from simstats.validation.design import Design
    from simstats.validation.simulate import log_format, read_truth, simulate

    if out_file is None:
        raise SimstatsError("simulate needs --out FILE (.csv or .parquet)")
    log_format(out_file)                      # bad options fail before anything is drawn
    seed_n, questions_n, answers_n = (_int(o, v) for o, v in (("--seed", seed), ("--questions", questions),
                                                               ("--answers", answers)))
    model_spec = resolve_spec(spec)
    truth_d = read_truth(truth) if truth is not None else None
    base = Design.from_dict(truth_d["design"]) if truth_d is not None and "design" in truth_d else Design()
    design = design_from_options(base, levels, groups, baseline, questions_n, features, answers_n, verdicts)
    sim = simulate(model_spec, truth=truth, design=design, seed=seed_n)
    paths = sim.write(out_file, force=force)
    info = {"rows": len(sim.rows), "conditions": design.n_conditions, "prompts": design.n_prompts,
            "answers": design.answers, "seed": sim.seed, **{k: str(v) for k, v in paths.items()},
            "notes": sim.truth["notes"]}
    if json_:
        out.print_json(json.dumps(info))
        return
    out.print(f"wrote {paths['log']}: {len(sim.rows):,} answers ({design.n_conditions} conditions x "
              f"{design.n_prompts} question ids x {design.answers}), seed {sim.seed}", highlight=False)
    out.print(f"truth {paths['truth']}, personas {paths['personas']}, roles {paths['roles']}", highlight=False)
    for note in sim.truth["notes"]:
        out.print(f"note: {note}", highlight=False)
    out.print(f"check: simstats data check {paths['log']} --roles {paths['roles']}", highlight=False)


@app.command("demo")
def demo_cmd(out_dir: Annotated[Path, typer.Option("--out", help="Folder for everything the demo writes.")] = Path("simstats-demo"),
             fit_model: Annotated[bool, typer.Option("--fit/--check-only", help="Fit the default persona model "
                                                     "(default; about 15 minutes on 2 cores), or only check and "
                                                     "summarise the data.")] = True,
             sampler: SamplerOpt = None,
             seed: Annotated[int, typer.Option("--seed", min=0, max=2 ** 32 - 1)] = 20251128,
             force: ForceOpt = False) -> None:
    """The main job: check and summarise the bundled real dataset, fit the default persona model, check its
    diagnostics, and write the result, the report (text, JSON, HTML) and the figures to --out."""
    from simstats.report.demo import run_demo

    report = run_demo(out_dir, fit_model=fit_model, sampler=sampler, seed=seed, console=out, force=force)
    if fit_model:
        _report_exit(report)


def _click_exceptions() -> tuple[type, ...]:
    """Click's usage-error classes: typer >= 0.2x raises those of its vendored click copy (``typer._click``)."""
    import click

    classes: list[type] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
        classes.append(VendoredClickException)
    except ImportError:     # older typer: plain click
        pass
    return tuple(classes)


def _terminate(signum, frame):
    """Ctrl-C (SIGINT) and SIGTERM end a run: the temporary outputs are removed, nothing is left half-written. The
    flag tells the fit that the sampler's early return was an interrupt (samplers swallow the KeyboardInterrupt)."""
    from simstats.errors import INTERRUPTED

    INTERRUPTED.set()
    raise KeyboardInterrupt


def _quiet_interrupts(unraisable) -> None:
    """``sys.unraisablehook``: the KeyboardInterrupt of :func:`_terminate`, raised where Python cannot pass it on
    (a garbage-collection callback, e.g. JAX's), would print "Exception ignored ... Traceback" beside the one line
    of the interrupt; the interrupt still ends the run through the flag, so it is not printed. Anything else is."""
    from simstats.errors import INTERRUPTED

    if isinstance(unraisable.exc_value, KeyboardInterrupt) and INTERRUPTED.is_set():
        return
    sys.__unraisablehook__(unraisable)


def one_line(message: str) -> str:
    """``message`` as one printable line: newlines, tabs, escape sequences and other control or format characters
    (a value from the user's command line or file may hold any of them) are written as their escapes.

    >>> print(one_line("line 1\\nline 2\\x1b[31m"))
    line 1\\nline 2\\x1b[31m
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(message))


def main() -> None:
    """Entry point: run the app; simstats' own errors become one line and exit status 2, an interrupt (Ctrl-C,
    SIGTERM) one line and exit status 130."""
    import signal

    from simstats.errors import INTERRUPTED

    INTERRUPTED.clear()
    sys.unraisablehook = _quiet_interrupts
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        rc = app(standalone_mode=False)  # returns the exit code of a typer.Exit raised by a command
    except SimstatsError as e:
        err.print(Text.assemble(("error:", "red"), f" {one_line(e)}"), highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as e:
        sys.exit(getattr(e, "exit_code", getattr(e, "code", 0)))
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted: outputs not completed were removed", highlight=False)
        sys.exit(130)
    except Exception as e:  # click usage errors carry their own exit code (2)
        if isinstance(e, _click_exceptions()):
            # one line like every other user error, pointing at the command's help instead of printing its usage
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None and hasattr(e, "ctx") else ""
            err.print(Text.assemble(("error:", "red"), f" {one_line(' '.join(e.format_message().split()))}{hint}"),
                      highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)
        raise
    if rc == 130:                          # typer turned a KeyboardInterrupt into its exit code
        err.print("interrupted: outputs not completed were removed", highlight=False)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
