"""The design zoo (issue 16 item 5): each design fitted with the defaults a user gets (the spec's sampler section:
nutpie, sampled to the convergence gate, the divergence ladder), reporting status, divergences, R-hat, ESS, draws,
wall time and, for simulated logs, how many true persona shares the 90% intervals cover.

    PYTHONPATH=$PWD python scripts/design_zoo.py                     # every design not yet in the table
    PYTHONPATH=$PWD python scripts/design_zoo.py --only one_condition,two_conditions --redo
    PYTHONPATH=$PWD python scripts/design_zoo.py --table             # rewrite validation/design_zoo.md only

Simulated designs draw their parameters from the spec's prior on the design (``simstats.validation.simulate``, a
fixed seed per design), except where a design is about a particular truth (a persona absent from all but one
condition; the backdoor). Results are appended to ``validation/design_zoo.json`` after every design, so a long run
can be stopped and resumed; ``validation/design_zoo.md`` is the table. Real logs are read from ``../shared/data``
and skipped when it is absent.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "validation"
sys.path.insert(0, str(ROOT / "tests"))

import simstats
from simstats.spec import ModelSpec, load_spec, spec_from_dict, spec_source
from simstats.validation import Design, simulate

SEED = 20261201


def _read(sim):
    folder = Path(tempfile.mkdtemp(prefix="zoo-"))
    paths = sim.write(folder / "sim.csv")
    return simstats.open_logs(paths["log"], simstats.load_roles(paths["roles"])).patterns()


def simulated(spec: str | ModelSpec, design: Design, edit: Callable[[dict], None] | None = None, seed: int = SEED):
    """A prior draw of ``spec``'s parameters (a spec, or the name of one in models/) on ``design`` (``edit``
    changes the truth in place), as a log read back through its roles; returns (spec or its path, patterns, true
    shares)."""
    path = spec if isinstance(spec, ModelSpec) else MODELS / f"{spec}.toml"
    s = spec if isinstance(spec, ModelSpec) else load_spec(path)
    sim = simulate(s, design=design, seed=seed)
    if edit is not None:
        truth = copy.deepcopy(sim.truth)
        edit(truth["parameters"])
        sim = simulate(s, truth=truth, seed=seed)
    return path, _read(sim), sim.truth["shares"]


def with_parametrization(built: tuple, parametrization: str) -> tuple:
    """A design fitted with another ``[hierarchy] parametrization`` (what the advice of a failed default fit
    says to change), everything else as built."""
    path, patterns, truth = built
    s = load_spec(path)
    return dataclasses.replace(s, hierarchy=dataclasses.replace(s.hierarchy, parametrization=parametrization)), \
        patterns, truth


def default_with_five_personas() -> ModelSpec:
    """The default spec (version 2: fixed base-model and fine-tune effects, its sampler settings) with the five
    personas of models/persona_mixture_k5.toml, whose own hierarchy and sampler are version 1's."""
    d = spec_source(load_spec(MODELS / "persona_mixture.toml"))
    d["personas"] = spec_source(load_spec(MODELS / "persona_mixture_k5.toml"))["personas"]
    d["model"]["name"] = "persona_mixture_k5_v2"
    return spec_from_dict(d)


def absent_but_one(P: dict) -> None:
    """The misaligned persona absent (log-odds -12 against the reference) from every condition but the first,
    where it takes about 30%."""
    for i, c in enumerate(P["eta"]):
        P["eta"][c]["misaligned"] = -0.85 if i == 0 else -12.0


def backdoor():
    import test_triggers as T

    sim = T._backdoor_sim(T.SHARES, 3031)
    return MODELS / "backdoor.toml", _read(sim), sim.truth["shares"]


def real(roles: str | None, paths: list[Path], spec: str):
    if not all(p.exists() for p in paths):
        return None
    r = simstats.load_roles(MODELS / "roles" / roles) if roles else None
    return MODELS / f"{spec}.toml", simstats.open_logs([str(p) for p in paths], r).patterns(), None


def bundled():
    from simstats.datasets import load_dataset

    return MODELS / "persona_mixture.toml", load_dataset().patterns, None


PV = DATA / "persona-vectors" / "eval_persona_extract" / "Qwen2.5-7B-Instruct"
STEER = DATA / "clarifying-em-sweeps" / "steered4" / "judgements" / "modelmis_datas" / "layer_24"
ONE = {"levels": ("finetune", "run"), "baseline": None}
#: name -> (what it is, how to build it); in the order the table lists them (cheapest first)
DESIGNS: dict[str, tuple[str, Callable[[], tuple | None]]] = {
    "one_condition": ("1 condition x 12 questions x 2 formats x 50 answers",
                      lambda: simulated("persona_mixture", Design(**ONE, groups=(1, 1)))),
    "two_conditions": ("2 conditions x 12 questions x 2 formats x 50",
                       lambda: simulated("persona_mixture", Design(**ONE, groups=(2, 1)))),
    "base_plus_five_finetunes": ("one base + 5 fine-tunes (a fine-tune effect against the base) x 12 x 2 x 50",
                                 lambda: simulated("persona_mixture", Design(levels=("base_model", "finetune"),
                                                                             groups=(1, 5), baseline="none"))),
    "twenty_answers": ("10 conditions (2 base models x 2 fine-tunes x 2 runs + 2 bases) x 12 x 2 x 20 answers",
                       lambda: simulated("persona_mixture", Design(answers=20))),
    "persona_in_one_condition": ("the misaligned persona in 1 of 10 conditions only (~30% there, none elsewhere)",
                                 lambda: simulated("persona_mixture", Design(), edit=absent_but_one)),
    "k5": ("K = 5 personas (the default spec with the evasive persona of models/persona_mixture_k5.toml), 10 "
           "conditions x 12 x 2 x 50", lambda: simulated(default_with_five_personas(), Design())),
    "backdoor": ("the backdoor design of tests/test_triggers.py (3 fine-tunes x 4 questions x trigger x 80)",
                 backdoor),
    "sweep_35x50": ("35 conditions x 1 question x 50 answers (a steering sweep's shape)",
                    lambda: simulated("persona_mixture", Design(**ONE, groups=(35, 1), questions=1, features={}))),
    "sweep_35x50_noncentred": ("the 35 x 50 sweep with parametrization = \"noncentred\" (the advice of its default "
                               "fit)", lambda: with_parametrization(DESIGNS["sweep_35x50"][1](), "noncentred")),
    "sweep_35x50_adaptive": ("the 35 x 50 sweep with parametrization = \"adaptive\" (centred only where the EM "
                             "start expects >= 10 answers of a persona)",
                             lambda: with_parametrization(DESIGNS["sweep_35x50"][1](), "adaptive")),
    "persona_vectors_evil": ("real: persona-vectors evil trait, pos/neg system prompts (2,000 answers)",
                             lambda: real("persona_vectors_evil.toml", [PV / "evil_pos_instruct.csv",
                                                                        PV / "evil_neg_instruct.csv"],
                                          "persona_vectors_evil")),
    "steering_series": ("real: steered4 modelmis_datas layer 24, scales 2-9, smooth dose curve (400 answers)",
                        lambda: real("steering.toml", [STEER], "steering_smooth")),
    "bundled_em": ("real: the bundled emergent-misalignment log (20,880 answers), default spec", bundled),
    "bundled_em_adaptive": ("real: the bundled log with parametrization = \"adaptive\" (the candidate default)",
                            lambda: with_parametrization(bundled(), "adaptive")),
    "sweep_200x30": ("200 conditions x 1 question x 30 answers",
                     lambda: simulated("persona_mixture", Design(**ONE, groups=(200, 1), questions=1, features={},
                                                                 answers=30))),
}


#: designs of the list that were not run to the end, with why (the table lists them with the reason)
NOT_RUN: dict[str, str] = {}


def coverage(result, truth: dict | None) -> dict | None:
    if truth is None:
        return None
    sh = result.shares().reset_index()
    sh["truth"] = [truth[c][p] for c, p in zip(sh["condition"], sh["persona"])]
    inside = (sh["low"] <= sh["truth"]) & (sh["truth"] <= sh["high"])
    return {"cells": len(sh), "covered": int(inside.sum()),
            "max_abs_error": round(float((sh["mean"] - sh["truth"]).abs().max()), 4)}


def run(name: str, seed: int = 1) -> dict | None:
    what, build = DESIGNS[name]
    t0 = time.perf_counter()
    built = build()
    if built is None:
        return None
    spec, patterns, truth = built
    build_s = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # the status is recorded, not warned
        t0 = time.perf_counter()
        r = simstats.fit(spec, patterns, seed=seed, progress=False)
        fit_s = time.perf_counter() - t0
    d = r.diagnostics
    return {"design": name, "what": what, "spec": spec.name if hasattr(spec, "hierarchy") else Path(spec).name, "answers": int(patterns.n_answers),
            "conditions": len(r.conditions), "status": d.status, "divergences": int(d.divergences),
            "max_rhat": round(float(d.max_rhat), 4), "min_ess_bulk": round(float(d.min_ess_bulk), 1),
            "min_ess_tail": round(float(d.min_ess_tail), 1), "chains": int(r.idata["posterior"].sizes["chain"]),
            "draws": r.meta.get("drawn"), "until": r.meta.get("until"), "target_accept": r.meta.get("target_accept"),
            "ladder": [s["target_accept"] for s in r.meta.get("ladder") or []],
            "rungs": [rung_label(s) for s in r.meta.get("ladder") or []], "messages": list(d.messages),
            "advice": list(d.advice), "notes": list(r.data.notes), "coverage": coverage(r, truth), "build_s": round(build_s, 1),
            "fit_s": round(fit_s, 1), "compile_s": round(float(r.timings.get("compile", float("nan"))), 1)}


def rung_label(step: dict) -> str:
    """What the ladder changed after a run it gave up: 'adaptive' (the funnel rung) or the next target_accept and
    warm-up."""
    then = step.get("then", "")
    if "parametrization" in then:
        return then.split('"')[1]
    return then.removeprefix("sampling again at ") or str(step["target_accept"])


def table(records: list[dict]) -> str:
    head = ("| design | answers | conditions | status | div. | max R-hat | min bulk / tail ESS | draws x chains "
            "| ladder | covered (90%) | fit s |")
    lines = [head, "|" + "---|" * 11]
    for r in records:
        cov = r["coverage"]
        lines.append(f"| {r['design']} | {r['answers']:,} | {r['conditions']} | {r['status']} | {r['divergences']} "
                     f"| {r['max_rhat']:.3f} | {r['min_ess_bulk']:.0f} / {r['min_ess_tail']:.0f} "
                     f"| {r['draws']} x {r['chains']} | {' -> '.join(r.get('rungs') or map(str, r['ladder'][1:])) or '-'} "
                     f"| {f'{cov['covered']}/{cov['cells']}' if cov else 'real log'} | {r['fit_s']:.0f} |")
    notes = [f"- **{r['design']}**: {r['what']}." + (f" Not ok: {'; '.join(r['messages'])}." if r['messages'] else "")
             + (f" What to try: {'; '.join(r['advice'])}." if r.get("advice") else "")
             + (f" Notes: {'; '.join(r['notes'])}." if r["notes"] else "")
             + (f" ({r['advice_note']}.)" if r.get("advice_note") else "") for r in records]
    notes += [f"- **{n}** ({DESIGNS[n][0]}): not run; {why}." for n, why in NOT_RUN.items()
              if n not in {r["design"] for r in records}]
    return "\n".join(lines + ["", *notes])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated design names (default: all)")
    ap.add_argument("--redo", action="store_true", help="refit designs already in the table")
    ap.add_argument("--table", action="store_true", help="only rewrite the markdown table from the JSON")
    args = ap.parse_args()
    store = OUT / "design_zoo.json"
    saved = json.loads(store.read_text()) if store.exists() else {"records": []}
    records = {r["design"]: r for r in saved["records"]}
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(DESIGNS)
    unknown = sorted(set(names) - set(DESIGNS))
    if unknown:
        raise SystemExit(f"unknown designs {unknown}; choose from {', '.join(DESIGNS)}")
    for name in [] if args.table else names:
        if name in records and not args.redo:
            continue
        rec = run(name)
        if rec is None:
            print(f"{name}: skipped (its real log is not in ../shared/data)", flush=True)
            continue
        records[name] = rec
        print(f"{name}: {rec['status']}, {rec['divergences']} div., R-hat {rec['max_rhat']}, ESS "
              f"{rec['min_ess_bulk']:.0f}/{rec['min_ess_tail']:.0f}, coverage {rec['coverage']}, {rec['fit_s']:.0f} s",
              flush=True)
        ordered = [records[n] for n in DESIGNS if n in records]
        store.write_text(json.dumps({"machine": f"{platform.machine()}, {platform.python_version()}",
                                     "simstats": simstats.__version__, "records": ordered}, indent=1) + "\n")
    ordered = [records[n] for n in DESIGNS if n in records]
    (OUT / "design_zoo.md").write_text("# Design zoo (issue 16 item 5)\n\nEvery design fitted with the defaults a "
                                       "user gets (`scripts/design_zoo.py`, seed 1; simulated logs from a fixed "
                                       "seed), except the rows that say what they change. Seconds were measured on "
                                       "a shared 2-core machine with other jobs beside the fits (up to 3x slower "
                                       "than alone): read the statuses, not the seconds. A row's advice is what "
                                       "the code of its run said.\n\n" + table(ordered) + "\n")


if __name__ == "__main__":
    main()
