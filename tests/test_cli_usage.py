"""Usage mistakes on the command line give click's one-paragraph message and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, message", [
    (["fit", "models/persona_mixture.toml", "x.csv", "--draws", "abc"], "Invalid value for '--draws'"),
    (["report"], "Missing argument"),
    (["simulate", "models/persona_mixture.toml", "--bogus"], "No such option: --bogus"),
    (["no-such-command"], "No such command"),
])
def test_usage_errors_are_one_message_and_exit_2(args, message):
    r = subprocess.run([sys.executable, "-m", "simstats.cli", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
