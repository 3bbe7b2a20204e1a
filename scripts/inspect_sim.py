"""Write simulated Inspect AI eval logs with inspect_ai itself: answers drawn from personas with known shares.

Used by ``notebooks/inspect_eval.ipynb`` and ``tests/test_inspect_eval.py``. Each checkpoint is one eval run of
the task ``graded_qa`` against a model of the custom model API ``personas/<checkpoint>``. Nothing needs the network:
the API reports its own token usage and counts tokens itself (inspect_ai's default counter is tiktoken, which
downloads its encoding on first use), and inspect_ai is imported only when logs are written. Every answer is written by
one persona, drawn with the checkpoint's share; the persona decides, independently, whether the final answer is
right and how good the explanation is. The scorer ``judge`` is an ordinary multi-key Inspect scorer that sees only
the answer text: ``Score(value={"match": "C" | "I", "grade": "C" | "P" | "I"})`` (exact match of the final answer,
and a grade of the explanation).

    >>> import sys; sys.path.insert(0, "scripts")                          # doctest: +SKIP
    >>> from inspect_sim import write_logs, TRUTH                         # doctest: +SKIP
    >>> files = write_logs("logs", shares={"base": 0.8, "tuned": 0.3})    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

#: Each persona's fingerprint: P(final answer right) and the probabilities of the explanation's grade.
TRUTH: dict[str, dict[str, Any]] = {
    "solver": {"right": 0.9, "grade": {"C": 0.7, "P": 0.25, "I": 0.05}},
    "guesser": {"right": 0.3, "grade": {"C": 0.05, "P": 0.25, "I": 0.7}},
}
#: The solver's share in each checkpoint (the rest is the guesser): what the fit should recover.
SHARES = {"base": 0.8, "ft_small": 0.5, "ft_large": 0.2}
TARGET = "42"
_EXPLANATIONS = {"C": "6 x 7 = 42, checked by 7 x 6.", "P": "Roughly forty.", "I": "No idea, just a guess."}
_GRADE_OF = {text: grade for grade, text in _EXPLANATIONS.items()}


def _registered_api():
    """The model API ``personas``: registered with inspect_ai on first use (registration is global)."""
    from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, ModelUsage, modelapi

    @modelapi(name="personas")
    class PersonaModel(ModelAPI):
        """A checkpoint whose every answer comes from a persona drawn with the checkpoint's share."""

        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig | None = None, share: float = 0.5, seed: int = 0,
                     **model_args: Any) -> None:
            super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
            self.share, self.seed = float(share), int(seed)
            self.calls: dict[str, int] = defaultdict(int)

        async def generate(self, input, tools, tool_choice, config):
            question = input[-1].text
            # one stream per (question, n-th call): the draws of a question do not depend on the order in which
            # inspect_ai runs its samples concurrently, so the pattern counts are the same in every run
            n = self.calls[question]
            self.calls[question] += 1
            key = hashlib.sha256(f"{self.seed}|{self.model_name}|{question}|{n}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
            persona = TRUTH["solver"] if rng.random() < self.share else TRUTH["guesser"]
            right = rng.random() < persona["right"]
            grade = rng.choice(list(persona["grade"]), p=list(persona["grade"].values()))
            text = f"{_EXPLANATIONS[grade]}\nANSWER: {TARGET if right else '17'}"
            output = ModelOutput.from_content(model=self.model_name, content=text)
            tokens_in, tokens_out = len(question.split()), len(text.split())
            output.usage = ModelUsage(input_tokens=tokens_in, output_tokens=tokens_out,
                                      total_tokens=tokens_in + tokens_out)
            return output

        async def count_text_tokens(self, text: str) -> int:
            return len(text.split())              # words, not tiktoken: no encoding to download

    return PersonaModel


def _task(questions: int, epochs: int):
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import Score, Target, scorer
    from inspect_ai.solver import generate

    @scorer(metrics=[])
    def judge():
        async def score(state, target: Target) -> Score:
            explanation, _, final = state.output.completion.partition("\nANSWER:")
            return Score(value={"match": "C" if final.strip() == target.text else "I",
                                "grade": _GRADE_OF.get(explanation.strip(), "I")})
        return score

    dataset = [Sample(id=f"q{j:02d}", input=f"Question {j}: what is 6 x 7?", target=TARGET) for j in range(questions)]
    return Task(dataset=dataset, solver=generate(), scorer=judge(), epochs=epochs, name="graded_qa")


def write_logs(log_dir: str | Path, shares: dict[str, float] | None = None, questions: int = 10, epochs: int = 40,
               seed: int = 0) -> list[Path]:
    """Run the eval once per checkpoint (``shares``: the solver's share in each) and return the ``.eval`` logs.

    The condition of an answer is its log's ``model`` column (``personas/<checkpoint>``); its question is
    ``sample_id``; its scores are the columns ``judge.match`` and ``judge.grade``.
    """
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    _registered_api()
    files = []
    for checkpoint, share in (shares or SHARES).items():
        model = get_model(f"personas/{checkpoint}", share=share, seed=seed)
        (log,) = inspect_eval(_task(questions, epochs), model=model, log_dir=str(log_dir), display="none",
                              log_level="warning", score_display=False,
                              # no sample buffer database, every sample at once: 3-4x faster on a small CPU
                              log_realtime=False, max_connections=1000, max_samples=1000)
        if log.status != "success":
            raise RuntimeError(f"the eval of {checkpoint} ended with status {log.status}: {log.error}")
        files.append(Path(log.location))
    return files
