"""Recovery on an Inspect eval written by inspect_ai itself: a multi-key scorer ``Score(value={"match": C | I,
"grade": C | P | I})`` over three checkpoints whose answers come from two personas with known shares
(``scripts/inspect_sim.py``), read back, checked and fitted with ``models/inspect_graded.toml``.

What is checked: the data check's numbers exactly (rows read and used, nothing excluded, 400 answers per checkpoint,
10 prompts, the levels of each key), on the command line as a new user would run it; then the fit: converged, and
the truth inside every checkpoint's 99% interval for the solver share, and the posterior mean within 0.12 of it.
Tolerance: each checkpoint has 400 answers, so the realised solver fraction alone scatters by sqrt(0.25 / 400) =
0.025 around the truth, and the posterior sd of a share is about 0.03 (which persona wrote an answer is uncertain):
together about 0.04, and 0.12 is 3 of them (seeds 0-5 gave errors up to 0.085). A 99% interval (not 90%) because
three intervals must all cover on every seed: 0.99^3 = 0.97 against 0.9^3 = 0.73.
``python scripts/test_seeds.py inspect --seeds 1,2,3`` reruns it on other logs and sampler seeds.

No network: the model API of the simulation reports its own token usage and counts tokens itself.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect_ai")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from conftest import run_cli
from inspect_sim import SHARES, TRUTH, write_logs

import simstats
from simstats.logs import Measure, Roles, open_logs

SPEC = ROOT / "models" / "inspect_graded.toml"
FLAGS = ["--condition", "model", "--prompt", "sample_id", "--prompt-regex", "",
         "--measure", "judge.match:binary,judge.grade:categorical"]
ROLES = Roles(condition=["model"], prompt="sample_id", prompt_regex="",
              measures=[Measure("judge.match", kind="binary"),
                        Measure("judge.grade", kind="categorical", levels=("C", "P", "I"))])
QUESTIONS, EPOCHS = 10, 40
# sampling is seconds (compiling the model is most of a fit), so enough draws that R-hat and ESS are not borderline
SETTINGS = {"draws": 1000, "tune": 500, "chains": 4}


def simulated_logs(folder: Path, seed: int) -> list[Path]:
    return write_logs(folder, SHARES, questions=QUESTIONS, epochs=EPOCHS, seed=seed)


def fit(files: list[Path], seed: int):
    return simstats.fit(SPEC, data=open_logs(files, ROLES), seed=seed, progress=False, **SETTINGS)


def converged(d) -> bool:
    """The test's gate: not failed, R-hat under 1.02 (seeds 1-5 gave at most 1.009, 1.004 at 1,000 draws), no
    divergence left after the ladder."""
    return d.status != "failed" and d.max_rhat < 1.02 and d.divergences == 0


def recovered(r, prob: float = 0.99) -> tuple[bool, list[str]]:
    """Whether every checkpoint's solver share covers the truth (``prob`` interval, and within 0.12 of the mean)."""
    solver = r.shares(prob=prob).xs("solver", level="persona")
    lines, ok = [], True
    for checkpoint, truth in SHARES.items():
        row = solver.loc[f"personas/{checkpoint}"]
        good = row["low"] <= truth <= row["high"] and abs(row["mean"] - truth) < 0.12
        ok &= bool(good)
        lines.append(f"{checkpoint}: truth {truth:.2f}, mean {row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"
                     + ("" if good else "  MISSED"))
    return ok, lines


@pytest.fixture(scope="module")
def eval_logs(tmp_path_factory):
    t = time.perf_counter()
    files = simulated_logs(tmp_path_factory.mktemp("inspect_eval"), seed=0)
    print(f"inspect_ai wrote {len(files)} logs in {time.perf_counter() - t:.1f} s")
    return files


def test_data_check_reads_the_multi_key_scores(eval_logs, monkeypatch, capsys):
    code, out, err = run_cli(["data", "check", *map(str, eval_logs), *FLAGS, "--json"], monkeypatch, capsys)
    assert code == 0, err
    s = json.loads(out)
    answers = QUESTIONS * EPOCHS
    assert (s["rows_read"], s["rows_used"], s["excluded"]) == (3 * answers, 3 * answers, {})
    assert s["conditions"] == {f"personas/{c}": answers for c in sorted(SHARES)}
    assert (s["n_conditions"], s["n_prompts"], s["features"]) == (3, QUESTIONS, {})
    assert s["measures"]["judge.match"]["labels"] == ["no", "yes"]            # C / I read as yes / no
    assert s["measures"]["judge.grade"]["labels"] == ["C", "I", "P"]          # levels read from the data, sorted
    assert s["measures"]["judge.match"]["missing"] == s["measures"]["judge.grade"]["missing"] == 0


def test_solver_shares_are_recovered(eval_logs):
    r = fit(eval_logs, seed=1)
    d = r.diagnostics
    assert converged(d), d.summary()
    ok, lines = recovered(r)
    assert ok, "\n".join(lines)
    # the fingerprints are those of the simulation (each P(right) within 0.1), and the contrast covers the truth
    fp = r.fingerprint_draws("judge.match").mean(axis=(0, 1))                  # (persona, [no_score, no, yes])
    for k, persona in enumerate(r.personas):
        assert abs(fp[k, -1] - TRUTH[persona]["right"]) < 0.1
    c = r.contrast("personas/ft_large", "personas/base", persona="solver", prob=0.99).loc["solver"]
    assert c["low"] <= SHARES["ft_large"] - SHARES["base"] <= c["high"] and c["p_gt_0"] == 0.0
