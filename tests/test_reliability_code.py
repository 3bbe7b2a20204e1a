"""Nothing from a user's file runs as code (issue 18): no deserialiser that can execute code anywhere in the package,
no ``eval``/``exec``, and strings that look like code stay strings; user regexes run in bounded time."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest

from simstats.errors import SimstatsError

PACKAGE = Path(__file__).resolve().parents[1] / "simstats"
#: Modules that can run code while loading data (pickle and its relatives) or evaluate strings.
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
#: Calls that unpickle under the hood, by attribute name: ``pd.read_pickle``, ``yaml.load``, ``torch.load``, ...
FORBIDDEN_ATTRS = {"read_pickle", "to_pickle", "unsafe_load", "full_load", "load_pickle"}


def _package_trees() -> list[tuple[Path, ast.AST]]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, "the package was not found"
    return [(f, ast.parse(f.read_text(encoding="utf-8"), filename=str(f))) for f in files]


def _fixed_name(node: ast.AST) -> bool:
    """A module name that is a literal, a plain variable, or looked up in a constant table (``_API[name]``): the
    lazy imports of the public API and of deprecated aliases, never a string built from data."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.value, ast.Name) and re.fullmatch(r"_?[A-Z][A-Z0-9_]*", node.value.id) is not None
    return isinstance(node, ast.Name | ast.Constant)


def _findings(path: Path, tree: ast.AST) -> list[str]:
    bad = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            bad += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            bad.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
                bad.append(f"{where} {f.id}(...)")
            elif isinstance(f, ast.Attribute) and f.attr in FORBIDDEN_ATTRS:
                bad.append(f"{where} .{f.attr}(...)")
            elif isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name) \
                    and f.value.id in {"yaml", "torch", "np", "numpy"}:
                # np.load is safe only without allow_pickle; yaml.load / torch.load unpickle or construct objects
                if f.value.id in {"yaml", "torch"} or any(k.arg == "allow_pickle" for k in node.keywords):
                    bad.append(f"{where} {f.value.id}.load(...)")
            elif isinstance(f, ast.Attribute) and f.attr == "import_module" and node.args \
                    and not _fixed_name(node.args[0]):
                bad.append(f"{where} import_module of a computed name")
    return bad


def test_no_code_executing_deserialiser_or_eval_in_the_package():
    bad = [b for path, tree in _package_trees() for b in _findings(path, tree)]
    assert not bad, "code that can execute data:\n" + "\n".join(bad)


def test_the_scan_catches_what_it_looks_for(tmp_path):
    """The scanner itself: each forbidden form in a snippet is reported (so the test above can fail)."""
    snippets = ["import pickle", "from joblib import load", "import cloudpickle as cp", "eval(s)", "exec(code)",
                "pd.read_pickle(p)", "yaml.load(f)", "np.load(p, allow_pickle=True)", "import dill",
                "import marshal", "importlib.import_module(name + 'x')",
                "importlib.import_module(table[name])"]
    fake = PACKAGE / "fake.py"
    for s in snippets:
        assert _findings(fake, ast.parse(s)), s
    assert not _findings(fake, ast.parse("np.load(p)\nx.eval()\nre.compile(r)\nimportlib.import_module(target)\n"
                                           "importlib.import_module(_API[name])"))


CODE = "__import__('os').system('touch PWNED')"


def test_code_in_a_log_spec_or_roles_stays_text(tmp_path, monkeypatch):
    """A condition name, question id and score that look like Python are data (or refused), never run."""
    import pandas as pd

    from simstats.logs import em_roles, open_logs
    from simstats.logs.roles import load_roles
    from simstats.spec import load_spec

    monkeypatch.chdir(tmp_path)
    rows = [{"model": CODE, "question_id": f"{CODE}_json", "aligned": 10.0 * i, "coherent": 60.0} for i in range(6)]
    rows.append({"model": "m", "question_id": "q", "aligned": CODE, "coherent": 50.0})
    pd.DataFrame(rows).to_csv("log.csv", index=False)
    try:
        logs = open_logs("log.csv", em_roles(condition=["model"]))
        assert CODE in logs.patterns().conditions
    except SimstatsError as e:  # a score that is not a number may be refused, naming it
        assert "aligned" in str(e)
    (tmp_path / "roles.toml").write_text(f'condition = ["model"]\nprompt = "{CODE}"\n'
                                         f'[behaviours]\nbad = "{CODE} < 3"\n')
    with pytest.raises(SimstatsError):
        open_logs("log.csv", load_roles(tmp_path / "roles.toml"))
    (tmp_path / "spec.toml").write_text(f'[model]\nname = "{CODE}"\nkind = "{CODE}"\n')
    with pytest.raises(SimstatsError):
        load_spec(tmp_path / "spec.toml")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("role", ["prompt_regex", "condition_from_filename"])
def test_user_regexes_run_in_linear_time(tmp_path, role):
    """``(a+)+$`` and ``(a|aa)+b`` backtrack exponentially in Python's re; the logs layer runs user regexes in RE2
    (DuckDB), which is linear, so a long question id or file name cannot hang a check."""
    import pandas as pd

    from simstats.logs import em_roles, open_logs

    long = "a" * 50_000 + "!"
    name = ("a" * 200 + "!") if role == "condition_from_filename" else "log"
    rows = [{"model": "m", "question_id": long, "aligned": 10.0, "coherent": 60.0}] * 3
    path = tmp_path / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    for rx in (r"(?P<prompt>(a+)+$)", r"(?P<model>(a|aa)+)b"):
        if role == "prompt_regex" and "prompt" not in rx:
            continue
        if role == "condition_from_filename":
            rx = rx.replace("?P<prompt>", "?P<model>")
        kwargs = {role: rx} if role == "prompt_regex" else {role: rx, "condition": None}
        start = time.perf_counter()
        with pytest.raises(SimstatsError, match="match"):
            open_logs(path, em_roles(**({"condition": ["model"]} | kwargs) if role == "prompt_regex"
                                     else {role: rx}))
        assert time.perf_counter() - start < 10, rx
