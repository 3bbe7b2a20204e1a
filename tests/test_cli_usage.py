"""Usage mistakes on the command line give one line (click's message and where to find the command's help) and
exit 2, never a traceback; and a fuzz of every numeric option of every command with values out of its range."""

from __future__ import annotations

import math
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
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:"), r.stderr
    assert "--help" in r.stderr, r.stderr


def _numeric_options():
    """(command, option, kind, min, max) of every numeric option of every command, read from the app itself."""
    import typer.main

    from simstats.cli import app

    out = []

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        for p in getattr(cmd, "params", []):
            if not p.opts or not p.opts[0].startswith("--"):
                continue
            kind = {"int": "int", "float": "float"}.get(p.bare_type())      # typer's own parameter types
            if kind:
                out.append((tuple(path), p.opts[0], kind, p.min, p.max))

    walk(typer.main.get_command(app), [])
    return out


OPTIONS = _numeric_options()


def test_the_fuzz_sees_the_numeric_options():
    names = {(c, o) for c, o, *_ in OPTIONS}
    assert {(("fit",), "--draws"), (("fit",), "--seed"), (("fit",), "--chains")} <= names, names


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # argv is set afresh per example
@given(data=st.data())
def test_any_bad_numeric_option_value_is_one_line_and_exit_2(data, monkeypatch, capsys, tmp_path):
    """Every numeric option of every command, given a value outside its type or range (text, a fraction for a whole
    number, below its minimum, above its maximum, NaN): exit 2 and one line, before any work."""
    from conftest import run_cli

    command, option, kind, lo, hi = data.draw(st.sampled_from(OPTIONS))
    bad = [st.sampled_from(["abc", "", "1e", "--", "0x1g", "１"])]
    if kind == "int":
        bad.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)).map(repr))
    else:
        bad.append(st.just("nan") if lo is not None or hi is not None else st.just("abc"))
    if lo is not None:
        bad.append(st.integers(max_value=math.ceil(lo) - 1).map(str))
    if hi is not None:
        bad.append(st.integers(min_value=int(hi) + 1).map(str))
    value = data.draw(st.one_of(*bad))
    args = [*command, f"{option}={value}", str(tmp_path / "no_spec.toml"), str(tmp_path / "no_log.csv")]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2, (args, code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error:"), (args, err)
    assert option in err, (args, err)            # refused for the option, not for the missing files after it


# ------------------------------------------------------------------------------------------ string options
#: the text-valued options of `data check` (the roles a user types), each with values a user could give: empty,
#: blanks, regex metacharacters, an unclosed group, a group without a name, unicode, control characters, a very long
#: name, a path that does not exist, and well-formed values that name nothing in the log
STRING_OPTIONS = ["--condition", "--condition-from-filename", "--prompt", "--prompt-regex", "--measure", "--verdict",
                  "--id", "--roles", "--behaviour", "--condition-default"]
TEXT = st.one_of(
    st.sampled_from(["", " ", "(", "(?P<x", "(?P<>a)", "a)", "[", "*", "\\", "%s", "{}", "a,,b", ",", ":", "a:",
                     "a:bogus", "aligned:binary", "aligned:categorical", "x=1", "=", "x=", "no_such_column",
                     "misaligned: aligned <", "misaligned: nope > 3", "m: aligned < 30 and", "../../etc/passwd",
                     "é", "\u202e", "\x1b[31m", "a" * 5000, "(?P<model>.+)", "(a+)+$", "(?P<prompt>.*)"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    from conftest import em_rows, write_csv

    return write_csv(tmp_path_factory.mktemp("fuzz") / "log.csv", em_rows(12))


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(STRING_OPTIONS), value=TEXT)
def test_any_string_option_value_is_read_or_one_clear_line(option, value, tiny_log, monkeypatch, capsys):
    """`data check` on a valid tiny log with any text for one of its roles options: exit 0 (the value was usable)
    with its report, or exit 2 with one line starting "error:"; never a traceback, never another status."""
    from conftest import run_cli

    if "\x00" in value:                                  # the OS refuses NUL in argv before simstats sees it
        value = value.replace("\x00", "")
    code, out, err = run_cli(["data", "check", str(tiny_log), f"{option}={value}", "--json"], monkeypatch, capsys)
    assert "Traceback" not in err, (option, value, err)
    assert code in (0, 2), (option, value, code, err)
    if code == 2:
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1, (option, value, err)
    else:
        import json

        assert "rows_read" in json.dumps(json.loads(out)), out[:200]


#: the text options of `simulate` that shape the design, with values that nearly make sense beside the hostile ones
DESIGN_OPTIONS = ["--levels", "--groups", "--baseline", "--questions", "--features", "--answers", "--seed"]
DESIGN_TEXT = st.one_of(TEXT, st.sampled_from(["0", "-1", "1", "2", "2,2", "1,1,1", "2,2,2", "3,0,1", "1.5", "1e3",
                                                "9" * 30, "a", "a,b", "a,a", " a ", "condition", "prompt", "aligned",
                                                "format=plain,json", "x=a,b;y=c,d", "x=a", "x=a,a", ";", "none"]))


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(DESIGN_OPTIONS), value=DESIGN_TEXT)
def test_any_design_option_value_simulates_or_is_one_clear_line(option, value, monkeypatch, capsys, tmp_path):
    """`simulate` with any text in one of its design options (the others small, so that a valid design is cheap to
    draw): exit 0 having written the log, its truth and its roles, or exit 2 with one line starting "error:" and
    nothing written; never a traceback (a design too large to draw is refused before anything is drawn)."""
    from conftest import run_cli

    from simstats.spec import DEFAULT_SPEC_PATH

    value = value.replace("\x00", "")                    # the OS refuses NUL in argv
    small = {"--questions": "2", "--answers": "2", "--seed": "1"}
    small.pop(option, None)
    out = tmp_path / f"sim{len(list(tmp_path.iterdir()))}" / "log.csv"
    out.parent.mkdir()
    args = ["simulate", str(DEFAULT_SPEC_PATH), "--out", str(out), *[f"{k}={v}" for k, v in small.items()],
            f"{option}={value}"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert "Traceback" not in err, (option, value, err)
    assert code in (0, 2), (option, value, code, err)
    if code == 2:
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1, (option, value, err)
        assert not any(out.parent.iterdir()), (option, value, list(out.parent.iterdir()))
    else:
        assert out.exists() and out.with_suffix(".truth.json").exists() and out.with_suffix(".roles.toml").exists()
