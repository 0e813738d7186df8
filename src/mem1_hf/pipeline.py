"""The ``"mem1-agent"`` transformers pipeline.

Example:
    >>> import mem1_hf  # registers the task  # doctest: +SKIP
    >>> from transformers import pipeline  # doctest: +SKIP
    >>> from mem1_hf.envs import LocalRetrievalEnv  # doctest: +SKIP
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25")  # doctest: +SKIP
    >>> agent = pipeline("mem1-agent", model=path, env=env)  # doctest: +SKIP
    >>> out = agent(["who wrote X?", "when was Y founded?"], max_turns=6, mode="mem1")  # doctest: +SKIP
    >>> out["answers"], out["peak_tokens"]  # doctest: +SKIP

One task is a list of questions (a single string is a one-question task); a list of tasks
returns a list of results, generated ``batch_size`` tasks at a time by the shared agent loop.

Settings: an argument (at construction or per call) > the checkpoint's ``agent_config.json``
(read from the model's folder or Hub repository, or given as ``agent_config=``) > the library
defaults of :class:`~mem1_hf.loop.LoopConfig` / :class:`~mem1_hf.policy.PolicyConfig`. With no
model, ``pipeline("mem1-agent", env=env)`` loads the shipped default agent, offline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from transformers import AutoModelForCausalLM, GenerationConfig, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from mem1_hf._lazy import REGISTER_WHEN_LOADED
from mem1_hf.agent_config import AgentConfig, as_agent_config
from mem1_hf.errors import Mem1InputError
from mem1_hf.loop import AgentLoop, LoopConfig, Task
from mem1_hf.policy import ModelPolicy, PolicyConfig
from mem1_hf.task_env import as_task_env, family_name

TASK_NAME = "mem1-agent"
# the parameters are routed by the config dataclasses' fields: one source for each setting
_LOOP_KEYS = tuple(f.name for f in fields(LoopConfig) if f.name != "batch_size")  # batch_size: __call__'s
_POLICY_KEYS = tuple(f.name for f in fields(PolicyConfig))
# any other GenerationConfig attribute (do_sample, top_p, top_k, repetition_penalty, …) goes to generate
_GENERATE_KEYS = tuple(k for k in GenerationConfig().to_dict() if k not in _POLICY_KEYS)
_CALLBACK_KEYS = ("on_turn",)  # per-turn streaming (the loop's hook)


def normalise_tasks(inputs: Any) -> tuple[list[list[str]], bool]:
    """Turn the pipeline's input into a list of question lists; ``True`` if it was one task.

    Example:
        >>> normalise_tasks(["q1", "q2"])
        ([['q1', 'q2']], True)
        >>> normalise_tasks([["q1"], ["q2", "q3"]])
        ([['q1'], ['q2', 'q3']], False)
    """
    if isinstance(inputs, str):
        tasks, single = [[inputs]], True
    elif isinstance(inputs, Sequence) and inputs and all(isinstance(q, str) for q in inputs):
        tasks, single = [list(inputs)], True
    elif isinstance(inputs, Sequence) and inputs and all(isinstance(t, (list, tuple)) for t in inputs):
        tasks, single = [list(t) for t in inputs], False
    else:
        raise Mem1InputError(
            "a task is a question string or a non-empty list of questions; several tasks are a list of such lists"
        )
    for number, task in enumerate(tasks, start=1):
        if not task:
            raise Mem1InputError(f"task {number} has no questions")
        for question in task:
            if not isinstance(question, str) or not question.strip():
                raise Mem1InputError(f"task {number} has an empty question")
    return tasks, single


class MEM1Pipeline(Pipeline):
    """A MEM1 agent: multi-turn search and answer with a constant-size memory.

    Pipeline arguments (at construction or per call): ``env`` (a search environment, required),
    ``mode``, ``prompt_profile``, ``max_turns``, ``max_new_tokens``, ``max_obs_tokens``,
    ``truncate_tokens``, ``topk``, ``reuse_prompt_cache``, ``return_token_ids``, ``batch_size``,
    ``on_turn``, ``agent_config`` and generation kwargs (``do_sample``, ``temperature``,
    ``top_p``, …, or ``generate_kwargs={...}``).

    A setting not passed comes from the checkpoint's ``agent_config.json`` (the model folder's or
    Hub repository's; ``agent_config=`` an :class:`~mem1_hf.agent_config.AgentConfig`, a dict or a
    path replaces it, ``AgentConfig()`` runs at the library defaults), else the library default.

    ``on_turn(event)`` streams a task as it runs: after every turn it receives that turn's dict
    (as in ``out["turns"]``) plus ``task_index``, ``task_id``, ``mode``, ``task_done`` and, when
    done, ``task_stop_reason`` and ``answers``.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def _sanitize_parameters(self, **kwargs):
        forward: dict[str, Any] = {}
        for key in (*_LOOP_KEYS, *_POLICY_KEYS, *_CALLBACK_KEYS, "env", "agent_config"):
            if key in kwargs:
                forward[key] = kwargs.pop(key)
        generate = dict(kwargs.pop("generate_kwargs", None) or {})
        for key in _GENERATE_KEYS:
            if key in kwargs:
                generate[key] = kwargs.pop(key)
        if generate:
            forward["generate_kwargs"] = generate
        postprocess = {}
        if "return_token_ids" in kwargs:
            postprocess["return_token_ids"] = kwargs.pop("return_token_ids")
        if kwargs:
            raise Mem1InputError(
                f"unknown argument(s) for the mem1-agent pipeline: {', '.join(sorted(kwargs))}"
            )
        return {}, forward, postprocess

    def __call__(self, inputs, batch_size: int | None = None, **kwargs):
        tasks, single = normalise_tasks(inputs)
        pre, forward, post = self._sanitize_parameters(**kwargs)
        if batch_size is None:
            batch_size = self._batch_size or 1
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise Mem1InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        forward = {**self._forward_params, **forward, "batch_size": batch_size}
        post = {**self._postprocess_params, **post}
        model_inputs = [self.preprocess(questions, index=i, **pre) for i, questions in enumerate(tasks)]
        outputs = self.forward(model_inputs, **forward)
        results = [self.postprocess(o, **post) for o in outputs]
        return results[0] if single else results

    def preprocess(self, questions: list[str], index: int = 0) -> tuple[int, list[str]]:
        # the task environment makes the Task (a QA task, a WebShop goal id) once the env is known
        return index, questions

    def _forward(
        self,
        inputs: list[tuple[int, list[str]]],
        env=None,
        batch_size: int = 1,
        generate_kwargs: dict | None = None,
        on_turn: Callable[[dict], None] | None = None,
        agent_config: Any = None,
        **kwargs,
    ):
        if env is None:
            raise Mem1InputError(
                "the mem1-agent pipeline needs an environment: pipeline('mem1-agent', model=..., env=env)"
            )
        self._use_the_familys_shipped_agent(family_name(env))
        checkpoint = (
            as_agent_config(agent_config) if agent_config is not None else self.checkpoint_agent_config
        )
        kwargs = checkpoint.merge(kwargs)  # what the call does not set, the checkpoint may
        loop = {k: v for k, v in kwargs.items() if k in _LOOP_KEYS}
        config = LoopConfig(batch_size=batch_size, **loop)
        policy_config = PolicyConfig(**{k: v for k, v in kwargs.items() if k in _POLICY_KEYS})
        if self.tokenizer is None:
            raise Mem1InputError(
                "the mem1-agent pipeline needs a tokenizer: pass tokenizer=... with a model object"
            )
        task_env = as_task_env(env, config.profile, config.topk)
        tasks: list[Task] = [task_env.task(index, questions) for index, questions in inputs]
        policy = ModelPolicy(
            self.model,
            self.tokenizer,
            config.profile,
            policy_config.generation_config(**(generate_kwargs or {})),
            reuse_prompt_cache=policy_config.reuse_prompt_cache,
        )
        return AgentLoop(policy, task_env, config).run(tasks, on_turn=_turn_events(tasks, on_turn))

    def _use_the_familys_shipped_agent(self, family: str) -> None:
        """``pipeline("mem1-agent", env=env)`` with no model: transformers loads the task's default
        (the QA agent) before the environment is known, so once it is, another family's environment
        gets that family's shipped agent (e.g. WebShop's) in its place, loaded once."""
        path = getattr(self.model, "name_or_path", None)
        if path not in _SHIPPED or _SHIPPED[path] == family:
            return
        from mem1_hf.defaults import FAMILY_ADAPTERS, default_agent_path

        if family not in FAMILY_ADAPTERS:
            return
        agent = str(default_agent_path(family))
        _SHIPPED[agent] = family
        dtype, device = self.model.dtype, self.model.device
        self.model = AutoModelForCausalLM.from_pretrained(agent, dtype=dtype).to(device).eval()
        self._checkpoint_agent_config = None  # read again, from the new agent's folder

    @property
    def checkpoint_agent_config(self) -> AgentConfig:
        """The model's ``agent_config.json`` (from ``model.name_or_path``: its folder or Hub
        repository), read once; empty when it has none."""
        cached = getattr(self, "_checkpoint_agent_config", None)
        if cached is None:
            source = getattr(self.model, "name_or_path", "") or ""
            cached = (AgentConfig.from_pretrained(source) if source else None) or AgentConfig()
            self._checkpoint_agent_config = cached
        return cached

    def postprocess(self, trajectory, return_token_ids: bool = False) -> dict:
        return trajectory.to_dict(include_ids=return_token_ids)


def _turn_events(tasks: Sequence[Task], on_turn: Callable[[dict], None] | None):
    """Adapt a user's ``on_turn(event_dict)`` to the loop's ``on_turn(trajectory, turn)``."""
    if on_turn is None:
        return None
    index = {id(task): i for i, task in enumerate(tasks)}

    def hook(trajectory, turn, done: bool) -> None:
        event = {
            "task_index": index[id(trajectory.task)],
            "task_id": trajectory.task.id,
            "mode": trajectory.mode,
            **turn.to_dict(),
            "task_done": done,
        }
        if done:
            event.update(task_stop_reason=trajectory.stop_reason, answers=trajectory.answers)
        on_turn(event)

    return hook


#: the shipped agents' folders this process handed to transformers as the task's default, by family
_SHIPPED: dict[str, str] = {}


class _DefaultAgent:
    """The task's default ``(model, revision)``: the shipped default agent's local folder
    (:func:`mem1_hf.defaults.default_agent_path`, merged once, offline). transformers unpacks it
    only when ``pipeline("mem1-agent")`` gets no model, so registering stays cheap."""

    def __iter__(self):
        from mem1_hf.defaults import default_agent_path

        path = str(default_agent_path())
        _SHIPPED[path] = "qa"
        return iter((path, None))

    def __repr__(self) -> str:
        return "<the shipped default agent: mem1_hf.default_agent_path()>"


def register_pipeline() -> None:
    """Register ``"mem1-agent"`` with transformers (idempotent), with the shipped default agent as
    its default model (``pipeline("mem1-agent", env=env)``)."""
    if TASK_NAME in PIPELINE_REGISTRY.get_supported_tasks():
        return
    PIPELINE_REGISTRY.register_pipeline(
        TASK_NAME,
        pipeline_class=MEM1Pipeline,
        pt_model=AutoModelForCausalLM,
        default={"model": _DefaultAgent()},
        type="text",
    )


if globals().pop(REGISTER_WHEN_LOADED, False):  # imported before mem1_hf's hook could run
    register_pipeline()
