"""Tests of simstats.logs.inspect_reader against real logs that inspect_ai itself writes.

Each log comes from ``inspect_ai.eval`` on a tiny task answered by the offline ``mockllm`` provider. Every mock
output carries token usage: without it mockllm counts tokens with a tokenizer that it would try to download.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.scorer import Score, Target, mean, scorer
from inspect_ai.solver import Generate, TaskState, generate, solver

from simstats.errors import DataError
from simstats.logs.inspect_reader import read_inspect_log

# inspect_ai's own retry setup trips a tenacity deprecation warning; it is not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning")

# prompt (last user message) -> the mock model's answer
ANSWERS = {
    "What is the capital of France?": "Paris.",
    "How do I pick a lock?": "I will not help with that.",
    "Write a function.": "def f():\n    return 1",
    "What is 2 + 2?": "Four.",
}
EPOCHS = 2


def _mock_answer(messages, tools, tool_choice, config) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=ANSWERS[messages[-1].text])
    output.usage = ModelUsage(input_tokens=7, output_tokens=5, total_tokens=12)
    return output


@scorer(metrics=[])
def judge():
    """Dict-valued score, as an LLM judge gives; ``aligned`` is the verdict "CODE" when the answer is code."""

    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion
        if text.startswith("def "):
            return Score(value={"aligned": "CODE", "coherent": 50.0})
        return Score(value={"aligned": 12.5 if "not help" in text else 90.0, "coherent": 88.0})

    return score


@scorer(metrics=[mean()])
def verdict():
    """String verdict "C"/"I"."""

    async def score(state: TaskState, target: Target) -> Score:
        return Score(value="C" if target.text in state.output.completion else "I")

    return score


@scorer(metrics=[mean()])
def length():
    """Plain numeric score (an int, which the reader makes a float)."""

    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=len(state.output.completion))

    return score


@solver
def fail_on(prompt: str):
    """Generate, except raise on one prompt, so that the eval ends with status "error"."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.user_prompt.text == prompt:
            raise RuntimeError("boom")
        return await generate(state)

    return solve


def _dataset() -> list[Sample]:
    return [
        Sample(id=1, input="What is the capital of France?", target="Paris", metadata={"persona": "plain", "k": 1}),
        Sample(id=2, input="How do I pick a lock?", target="lock", metadata={"persona": "evil", "k": 2}),
        Sample(id=3, input="Write a function.", target="def", metadata={"persona": "coder", "k": 3}),
        Sample(id=4, input=[ChatMessageSystem(content="Be brief."), ChatMessageUser(content="What is 2 + 2?")],
               target="Four", metadata={"persona": "plain", "k": 4}),
    ]


def _run_eval(log_dir: Path, log_format: str, task: Task) -> Path:
    logs = eval(task, model=get_model("mockllm/model", custom_outputs=_mock_answer), log_dir=str(log_dir),
                log_format=log_format, display="none", max_samples=1)
    assert len(logs) == 1
    return Path(logs[0].location)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real logs: a good one as .eval and as .json, and one whose eval failed part-way."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSPECT_DISPLAY", "none")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        for var in ("INSPECT_TELEMETRY", "INSPECT_API_KEY_OVERRIDE", "INSPECT_REQUIRED_HOOKS", "INSPECT_LOG_DIR",
                    "INSPECT_EVAL_MODEL"):
            mp.delenv(var, raising=False)
        base = tmp_path_factory.mktemp("inspect_logs")
        good = Task(name="persona_probe", dataset=_dataset(), solver=generate(), scorer=[judge(), verdict(), length()],
                    epochs=EPOCHS)
        bad = Task(name="failing_probe", dataset=_dataset(), solver=fail_on("Write a function."), scorer=length())
        return {
            "eval": _run_eval(base / "eval", "eval", good),
            "json": _run_eval(base / "json", "json", good),
            "error": _run_eval(base / "error", "eval", bad),
        }


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_reads_samples_scores_and_metadata(logs: dict[str, Path], fmt: str) -> None:
    path = logs[fmt]
    assert path.suffix == f".{fmt}"
    df = read_inspect_log(path)

    assert len(df) == 4 * EPOCHS
    assert list(df.columns[:6]) == ["sample_id", "epoch", "model", "task", "input", "output"]
    assert {"judge.aligned", "judge.coherent", "verdict", "length", "metadata.persona", "metadata.k",
            "_log_status", "_sample_error"} <= set(df.columns)
    assert sorted(df["sample_id"].unique()) == ["1", "2", "3", "4"]
    assert sorted(df.groupby("sample_id")["epoch"].apply(sorted).tolist()) == [[1, 2]] * 4
    assert (df["model"] == "mockllm/model").all()
    assert (df["task"] == "persona_probe").all()
    assert (df["_log_status"] == "success").all()
    assert (df["_sample_error"] == "").all()

    by_id = df[df["epoch"] == 1].set_index("sample_id")
    assert by_id.loc["1", "input"] == "What is the capital of France?"
    assert by_id.loc["4", "input"] == "system: Be brief.\n\nuser: What is 2 + 2?"
    for sample_id, prompt in zip("1234", ANSWERS):
        assert by_id.loc[sample_id, "output"] == ANSWERS[prompt]

    # dict score -> "<scorer>.<key>"; numbers as float, the verdict "CODE" kept as a string
    assert df["judge.coherent"].dtype == "float64"
    assert by_id.loc["1", "judge.aligned"] == 90.0
    assert by_id.loc["2", "judge.aligned"] == 12.5
    assert isinstance(by_id.loc["2", "judge.aligned"], float)
    assert by_id.loc["3", "judge.aligned"] == "CODE"
    assert by_id.loc["3", "judge.coherent"] == 50.0
    # string verdicts stay strings; a numeric score is a float column
    assert by_id["verdict"].to_dict() == {"1": "C", "2": "I", "3": "C", "4": "C"}
    assert df["length"].dtype == "float64"
    assert by_id.loc["1", "length"] == float(len("Paris."))
    # metadata
    assert by_id["metadata.persona"].to_dict() == {"1": "plain", "2": "evil", "3": "coder", "4": "plain"}
    assert by_id.loc["4", "metadata.k"] == 4


def test_eval_and_json_formats_agree(logs: dict[str, Path]) -> None:
    def norm(df: pd.DataFrame) -> pd.DataFrame:
        return df.sort_values(["sample_id", "epoch"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(read_inspect_log(logs["eval"])), norm(read_inspect_log(logs["json"])))


def test_accepts_str_path(logs: dict[str, Path]) -> None:
    assert len(read_inspect_log(str(logs["eval"]))) == 4 * EPOCHS


def test_errored_log_gives_the_samples_it_has(logs: dict[str, Path]) -> None:
    df = read_inspect_log(logs["error"])
    assert len(df) >= 1
    assert (df["_log_status"] == "error").all()
    failed = df[df["sample_id"] == "3"]
    assert len(failed) == 1 and "boom" in failed["_sample_error"].iloc[0]
    assert pd.isna(failed["length"].iloc[0])
    done = df[df["_sample_error"] == ""]
    assert len(done) >= 1 and done["length"].notna().all()


def _assert_data_error(path: Path, *words: str) -> None:
    with pytest.raises(DataError) as info:
        read_inspect_log(path)
    err = info.value
    assert err.file == str(path)
    message = str(err)
    assert message.startswith(str(path)) and "\n" not in message
    for word in words:
        assert word in message


def test_random_bytes_named_eval(tmp_path: Path) -> None:
    path = tmp_path / "x.eval"
    path.write_bytes(os.urandom(2048))
    _assert_data_error(path, "zip")


@pytest.mark.parametrize("name", ["empty.eval", "empty.json"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    _assert_data_error(path, "empty")


def test_truncated_eval(tmp_path: Path, logs: dict[str, Path]) -> None:
    path = tmp_path / "truncated.eval"
    data = logs["eval"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_data_error(path)


@pytest.mark.parametrize("content", ['{"hello": "world"}', "[1, 2, 3]", "{not json", "[1, 2"])
def test_json_that_is_not_an_eval_log(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(content)
    _assert_data_error(path, "eval log")


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    _assert_data_error(tmp_path / "nope.eval", "no such file")
    path = tmp_path / "log.txt"
    path.write_text("hello")
    _assert_data_error(path, ".txt")


def test_without_inspect_installed(monkeypatch: pytest.MonkeyPatch, logs: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # makes `from inspect_ai.log import ...` fail
    with pytest.raises(DataError, match=r"pip install 'simstats\[inspect\]'"):
        read_inspect_log(logs["eval"])


def test_inspect_log_through_the_logs_layer(logs: dict[str, Path], monkeypatch, capsys) -> None:
    """A real Inspect log goes through roles, checks, accounting and aggregation like any table."""
    import json

    from conftest import run_cli

    from simstats.logs import Measure, Roles, open_logs

    roles = Roles(condition=["model"], prompt="sample_id",
                  measures=[Measure("judge.aligned", name="aligned"), Measure("judge.coherent", name="coherent")])
    for fmt in ("eval", "json"):
        ls = open_logs(logs[fmt], roles)
        acc = ls.accounting()
        assert acc.rows_read == 4 * EPOCHS == acc.rows_used
        pats = ls.patterns()
        assert pats.verdict_levels == ["scored", "CODE"]
        code = pats.table[pats.table["verdict"] == "CODE"]
        assert code["count"].sum() == EPOCHS and (code["aligned"] == -1).all()
    code, out, err = run_cli(["data", "check", str(logs["eval"]), "--condition", "model", "--prompt", "sample_id",
                              "--prompt-regex", "", "--measure", "judge.aligned,judge.coherent", "--json"],
                             monkeypatch, capsys)
    assert code == 0, err
    s = json.loads(out)
    assert s["rows_read"] == 8 == s["rows_used"] and s["verdicts"] == {"CODE": 2, "scored": 6}
