"""What the demo runs, without any UI: the model, the corpus, example tasks, streamed runs.

* :func:`resolve_model` — the one place that decides which checkpoint the demo loads:
  ``$MEM1_MODEL`` (any local checkpoint, adapter or Hub id, or ``base``), else the trained default
  agent: the base model + the adapter shipped in the package, merged once into the cache
  (:func:`mem1_hf.defaults.default_agent_path`). A retrained adapter is picked up with no code change.
* :func:`demo_env` / :func:`example_tasks` — the BM25 corpus and composed example tasks with
  gold answers (``$MEM1_DEMO_CORPUS`` / ``$MEM1_DEMO_EXAMPLES``, else files next to the Space's
  ``app.py``, else built from the HotpotQA dev file in the shared data).
* :func:`stream_run` — runs a task in one or several modes through the ``"mem1-agent"``
  pipeline and yields a :class:`RunState` after every turn (the pipeline's ``on_turn`` hook).

Example:
    >>> demo = DemoRunner.from_env()  # doctest: +SKIP
    >>> for state in demo.stream(["Who is older, A or B?"], modes=["mem1"], max_turns=4):  # doctest: +SKIP
    ...     print(state.runs["mem1"].turns[-1]["action"])
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

MODEL_ENV = "MEM1_MODEL"
CORPUS_ENV = "MEM1_DEMO_CORPUS"
EXAMPLES_ENV = "MEM1_DEMO_EXAMPLES"
MAX_NEW_TOKENS_ENV = "MEM1_DEMO_MAX_NEW_TOKENS"
SPACE_DIR = Path(__file__).resolve().parents[2]  # in a pushed Space: the folder holding app.py

#: input limits (a shared CPU serves everyone)
MAX_QUESTIONS = 4
MAX_QUESTION_CHARS = 300
MAX_TURNS = 10
MODES = ("mem1", "full_context")


def shared_data_dir() -> Path:
    """``$MEM1_SHARED_DATA``, else ``../shared/data`` beside the current directory's repository."""
    env = os.environ.get("MEM1_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def hotpot_dev_file() -> Path:
    return shared_data_dir() / "hotpotqa" / "hotpotqa_dev_500.ircot.jsonl"


def resolve_model(spec: str | None = None) -> str:
    """The checkpoint the demo runs: ``spec``, else ``$MEM1_MODEL``, else the trained default agent
    (``base`` names the untrained base model; :func:`mem1_hf.defaults.resolve_model_spec`).

    Example:
        >>> resolve_model("Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release")
        'Mem-Lab/Qwen2.5-7B-RL-RAG-Q2-EM-Release'
    """
    from mem1_hf.defaults import resolve_model_spec

    return resolve_model_spec(spec or os.environ.get(MODEL_ENV))


def _first_existing(*paths: Path | None) -> Path | None:
    return next((p for p in paths if p is not None and p.is_file()), None)


def demo_corpus(corpus: str | Path | None = None):
    """The demo corpus: a JSONL path (``corpus``, ``$MEM1_DEMO_CORPUS``, ``corpus.jsonl`` next to
    the Space's ``app.py``, ``demo/corpus.jsonl``), else the passages of the shared HotpotQA
    dev file (a list of documents)."""
    from mem1_hf.data import build_corpus

    env_value = os.environ.get(CORPUS_ENV)
    path = _first_existing(
        Path(corpus) if corpus else None,
        Path(env_value) if env_value else None,
        SPACE_DIR / "corpus.jsonl",
        Path.cwd() / "demo" / "corpus.jsonl",
    )
    if path is not None:
        return path
    if corpus or env_value:
        raise Mem1InputError(f"demo corpus not found: {corpus or env_value}")
    if not hotpot_dev_file().is_file():
        raise Mem1InputError(
            f"no demo corpus: set {CORPUS_ENV} or put the shared data at {shared_data_dir()} (make demo builds it)"
        )
    return build_corpus(hotpot_dev_file())


def demo_env(corpus: str | Path | None = None):
    """A BM25 environment over :func:`demo_corpus`."""
    from mem1_hf.retrieval.local import LocalRetrievalEnv

    return LocalRetrievalEnv.from_corpus(demo_corpus(corpus), retriever="bm25")


def compose_examples(n_tasks: int = 8, objectives: int = 2) -> list[dict[str, Any]]:
    """Composed tasks from the held-out split of the shared HotpotQA dev file, with golds."""
    from mem1_hf.data.compose import ComposeConfig, compose

    config = ComposeConfig(objectives=objectives, splits={"test": 0.2}, seed=0, limit=100)
    result = compose([("hotpotqa", str(hotpot_dev_file()))], config)
    rows = result.dataset["test"].select(range(min(n_tasks, result.dataset["test"].num_rows)))
    return [{"task_id": r["task_id"], "questions": r["questions"], "answers": r["answers"]} for r in rows]


def example_tasks(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Example tasks (``task_id``, ``questions``, ``answers``): a JSONL file or composed on the fly."""
    env_value = os.environ.get(EXAMPLES_ENV)
    found = _first_existing(
        Path(path) if path else None, Path(env_value) if env_value else None, SPACE_DIR / "examples.jsonl"
    )
    if found is not None:
        return [json.loads(line) for line in found.read_text().splitlines() if line.strip()]
    if hotpot_dev_file().is_file():
        return compose_examples()
    return []


def parse_questions(text: Any) -> list[str]:
    """One question per non-empty line, within the demo's limits; else a clear error.

    Example:
        >>> parse_questions("Who wrote Hamlet?\\n\\nWhen was Yale founded? ")
        ['Who wrote Hamlet?', 'When was Yale founded?']
    """
    if text is not None and not isinstance(text, str):  # the app passes raw values (no preprocessing)
        raise Mem1InputError(f"the questions must be text, got {type(text).__name__}")
    questions = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not questions:
        raise Mem1InputError("type at least one question (one per line) or pick an example task")
    if len(questions) > MAX_QUESTIONS:
        raise Mem1InputError(f"at most {MAX_QUESTIONS} questions per task here, got {len(questions)}")
    for number, question in enumerate(questions, start=1):
        if len(question) > MAX_QUESTION_CHARS:
            raise Mem1InputError(
                f"question {number} is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}"
            )
    return questions


def check_turns(max_turns: Any) -> int:
    """The max-turns setting as an int within ``1..MAX_TURNS``: a whole number (``3``, ``3.0`` or
    ``"3"``); ``2.5`` is refused, not rounded, and so is text that is not a number.

    Example:
        >>> check_turns(3.0), check_turns("4")
        (3, 4)
        >>> check_turns(2.5)
        Traceback (most recent call last):
        ...
        mem1_hf.errors.Mem1InputError: max turns must be a whole number from 1 to 10, got 2.5
    """
    value = max_turns
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    whole = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
    )
    if not whole:
        raise Mem1InputError(f"max turns must be a whole number from 1 to {MAX_TURNS}, got {max_turns!r}")
    turns = int(value)
    if not 1 <= turns <= MAX_TURNS:
        raise Mem1InputError(f"max turns must be between 1 and {MAX_TURNS}, got {turns}")
    return turns


def demo_max_new_tokens() -> int | None:
    """``$MEM1_DEMO_MAX_NEW_TOKENS`` as a checked response budget (``None`` when unset), so a bad
    value stops the demo at start, not at a visitor's first run.

    Example:
        >>> os.environ[MAX_NEW_TOKENS_ENV] = "64"; demo_max_new_tokens()
        64
        >>> del os.environ[MAX_NEW_TOKENS_ENV]; demo_max_new_tokens() is None
        True
    """
    from mem1_hf.sampling import check_sampling

    text = os.environ.get(MAX_NEW_TOKENS_ENV)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise Mem1InputError(f"${MAX_NEW_TOKENS_ENV} must be an integer, got {text!r}") from None
    check_sampling(value, {})
    return value


@dataclass
class ModeRun:
    """One mode's run of the task, as far as it got."""

    mode: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    scores: dict[str, float] | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


@dataclass
class RunState:
    """Everything shown so far: per mode, its turns and (when done) its result."""

    questions: list[str]
    golds: list[list[str]] | None
    runs: dict[str, ModeRun]
    active: str | None = None

    @property
    def done(self) -> bool:
        return all(run.done for run in self.runs.values())


class DemoRunner:
    """Holds the loaded pipeline and environment; streams runs of tasks (one at a time)."""

    def __init__(
        self,
        agent,
        env,
        model_name: str,
        max_new_tokens: int | None = None,
        topk: int | None = None,
        max_obs_tokens: int | None = None,
    ):
        self.agent = agent
        self.env = env
        self.model_name = model_name
        # None: the pipeline's own (the checkpoint's agent_config.json, else the library default)
        self.max_new_tokens = max_new_tokens
        self.topk = topk
        self.max_obs_tokens = max_obs_tokens
        self._lock = threading.Lock()  # one generation at a time per loaded model

    @classmethod
    def from_env(cls, model: str | None = None, corpus: str | Path | None = None) -> DemoRunner:
        """Load the resolved model and the demo corpus; run at the checkpoint's agent settings
        (its ``agent_config.json``: the default agent's top-2, 160-token observations, 128 new
        tokens), ``$MEM1_DEMO_MAX_NEW_TOKENS`` overriding the new tokens per turn."""
        from transformers import pipeline

        import mem1_hf  # noqa: F401  (registers the pipeline task)
        from mem1_hf.loop import agent_setting_defaults
        from mem1_hf.model_loading import agent_config_for, load_model

        spec = model or os.environ.get(MODEL_ENV)
        source = resolve_model(model)
        checkpoint = agent_config_for(spec)
        loaded, tokenizer = load_model(source)
        env = demo_env(corpus)
        agent = pipeline(
            "mem1-agent",
            model=loaded,
            tokenizer=tokenizer,
            env=env,
            device=loaded.device,
            agent_config=checkpoint,  # an adapter merged on load has the base's name_or_path
        )
        settings = {**agent_setting_defaults(), **checkpoint.settings()}
        max_new = demo_max_new_tokens()
        return cls(
            agent,
            env,
            source,
            max_new_tokens=max_new if max_new is not None else settings["max_new_tokens"],
            topk=settings["topk"],
            max_obs_tokens=settings["max_obs_tokens"],
        )

    def stream(
        self,
        questions: Sequence[str],
        modes: Sequence[str],
        max_turns: int,
        golds: list[list[str]] | None = None,
    ) -> Iterator[RunState]:
        """Run ``questions`` in each of ``modes`` (one after the other); yield after every turn."""
        from mem1_hf.scoring import score_task

        for mode in modes:
            if mode not in MODES:
                raise Mem1InputError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        state = RunState(list(questions), golds, {m: ModeRun(m) for m in modes})
        with self._lock:
            for mode in modes:
                state.active = mode
                run = state.runs[mode]
                for item in self._run_one(questions, mode, max_turns):
                    if isinstance(item, dict) and "turns" in item and "task_index" not in item:
                        run.result = item
                        if golds is not None:
                            score = score_task(item["answer_text"] or None, golds)
                            run.scores = {
                                "em_sum": score.em_sum,
                                "f1_sum": score.f1_sum,
                                "em": score.em_mean,
                                "f1": score.f1_mean,
                            }
                    else:
                        run.turns.append(item)
                    yield state
            state.active = None
        yield state

    def _run_one(self, questions: Sequence[str], mode: str, max_turns: int) -> Iterator[dict]:
        """The pipeline runs in a worker thread; its ``on_turn`` events come back through a queue."""
        events: queue.Queue = queue.Queue()
        finished = object()

        def work() -> None:
            try:
                out = self.agent(  # a None setting is not given: the pipeline's own applies
                    list(questions),
                    mode=mode,
                    max_turns=max_turns,
                    max_new_tokens=self.max_new_tokens,
                    topk=self.topk,
                    max_obs_tokens=self.max_obs_tokens,
                    on_turn=events.put,
                )
                events.put(out)
            except BaseException as err:  # re-raised in the caller's thread
                events.put(err)
            events.put(finished)

        started = time.perf_counter()
        worker = threading.Thread(target=work, name=f"mem1-demo-{mode}", daemon=True)
        worker.start()
        while True:
            item = events.get()
            if item is finished:
                break
            if isinstance(item, BaseException):
                raise item
            if "task_index" not in item:
                item = {**item, "wall_s": time.perf_counter() - started}
            yield item
        worker.join()
