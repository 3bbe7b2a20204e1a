"""The design zoo (issue 16 item 5, ``scripts/design_zoo.py``): its saved table covers every design and says what
its numbers say, and a fast subset is fitted again here with the defaults a user gets.

The live design (two conditions x 12 questions x 2 formats x 50 answers, parameters drawn from the default spec's
prior with the zoo's seed) is the smallest one with a hierarchy over conditions, the case the defaults used to fail
(7 divergences, status warning, on the two-condition persona-vector logs). Claims, fixed before the run: status
``ok`` (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences), and at least 6 of its 8 true persona shares inside
the 90% intervals (at nominal 90%, 6 or more of 8 happens with probability 0.96 for calibrated intervals). Measured
with sampler seeds 1, 2, 3 (``run(name, seed)``): ok, 0 divergences, R-hat 1.010 / 1.005 / 1.007, 8 of 8 covered
each time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = json.loads((ROOT / "validation" / "design_zoo.json").read_text())


def _zoo():
    from conftest import load_script

    return load_script(ROOT / "scripts" / "design_zoo.py")


def test_the_saved_table_covers_every_design_and_its_statuses_follow_its_numbers():
    zoo = _zoo()
    records = {r["design"]: r for r in TABLE["records"]}
    real = {n for n, (what, _) in zoo.DESIGNS.items() if what.startswith("real:")}
    missing = set(zoo.DESIGNS) - real - set(records)
    assert missing <= set(zoo.NOT_RUN), sorted(missing)      # a design not run says why, in the table too
    md = (ROOT / "validation" / "design_zoo.md").read_text()
    assert all(f"**{n}**" in md and "not run" in md for n in missing)
    for r in records.values():
        clean = r["max_rhat"] <= 1.01 and min(r["min_ess_bulk"], r["min_ess_tail"]) >= 400 and not r["divergences"]
        assert (r["status"] == "ok") == (clean and not r["messages"]), r
        if r["coverage"] is not None:
            assert 0 <= r["coverage"]["covered"] <= r["coverage"]["cells"]
    assert md.count("\n| ") >= len(records)


@pytest.mark.slow
def test_two_conditions_converge_with_the_defaults_and_cover_the_truth():
    zoo = _zoo()
    rec = zoo.run("two_conditions")
    print(rec)
    assert rec["status"] == "ok" and rec["divergences"] == 0, rec
    assert rec["coverage"]["covered"] >= 6, rec["coverage"]
