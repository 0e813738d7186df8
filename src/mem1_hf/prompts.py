"""Prompt profiles: the instruction text, the tags, the turn hint and the observation format.

A profile fixes everything about the text the agent reads and writes, so the parser, the keep
rule, the policy's stop and blocked strings and the environment observations all take it from one
object. Profiles are small YAML files (Jinja where text is templated; schema and how to write your
own: docs/prompt_profiles.md). The built-in ones live in ``mem1_hf/profiles/``:

* ``mem1-qa`` (default): MEM1's tags (``<think>`` state, ``<search>``, ``<answer>a1; a2</answer>``).
* ``mem1-paper``: the same with the paper's ``<IS>…</IS>`` tag.
* ``mem1-webshop``: ``<think>`` (discarded every turn), ``<summary>`` (the memory) and the
  action inside ``<answer>`` (``search[...]`` / ``click[...]``).
* ``mem1-release``: the structure of the MEM1 authors' released inference (for their checkpoint).
* ``search-r1``: the Search-R1 format (full context, no hint), for Search-R1 baselines.

``get_profile(name_or_path)`` also loads a user's file (``--prompt-profile my.yaml``).

Example:
    >>> profile = get_profile("mem1-qa")
    >>> profile.hint(3)
    '[HINT]You have 3 turns left.[/HINT]'
    >>> profile.hint(1)
    '[HINT]You have 1 turn left. You must answer the question now.[/HINT]'
    >>> profile.join_questions(["who?", "when?"])
    'who?; when?'
    >>> get_profile("mem1-release").join_questions(["who wrote hamlet", "when?"])
    'who wrote hamlet?; when?'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

#: where the built-in profile files live (package data)
PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
QUESTION_SEPARATOR = "; "
#: the built-in profiles of question answering; the first is the default everywhere
QA_PROFILES = ("mem1-qa", "mem1-paper", "mem1-release", "search-r1")
DEFAULT_PROFILE = QA_PROFILES[0]
#: what ``invalid_action`` may say: correct the model and go on, or end the episode
INVALID_ACTION_POLICIES = ("continue", "end")
#: what ``keep`` may say: from the first state block through the action, or the whole response
KEEP_POLICIES = ("memory", "whole")
_QA_OBSERVATION = "<{{ tag }}>\n{{ hint }}\n{{ body | endline }}</{{ tag }}>"


@lru_cache(maxsize=256)
def _template(text: str):
    """A compiled Jinja template: trailing newlines kept, unknown variables an error."""
    import jinja2

    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["endline"] = lambda body: body if str(body).endswith("\n") else f"{body}\n"
    return env.from_string(text)


def _render(text: str, **values: Any) -> str:
    return _template(text).render(**values)


@dataclass(frozen=True)
class PromptProfile:
    """The text conventions of one agent (one profile file).

    Args:
        name: the profile's name (``--prompt-profile``).
        state_tag: the tag holding the internal state that survives a turn.
        action_tags: the tags that carry an action; the first complete one in a response wins.
        final_tag: the action that ends the task (``answer``); on the last turn it is the only
            allowed stop.
        search_tag: the action that queries the environment and is blocked on the last turn.
        instruction: the task prompt, a Jinja template of ``questions`` (joined) and ``state``.
        discarded_tags: blocks written before the memory that are dropped every turn.
        observation_tag: the tag wrapping environment observations.
        invalid_message: the corrective observation after a response with no valid action.
        family: the task family it speaks (``qa`` or ``webshop``; the family refuses another's).
        question_separator: how a task's questions are joined.
        strip_questions: strip each question's surrounding whitespace first.
        add_question_mark: end each question with ``?`` when it has none.
        hint_template / last_turn_hint_template: the turn hint (Jinja of ``turns_left``).
        observation_template: an observation (Jinja of ``tag``, ``hint``, ``body``; filter
            ``endline`` adds a final newline when missing).
        invalid_observation_template: the observation after an invalid response (None: as any).
        blocked_strings / blocked_on_last_turn: text the model may not write (always / last turn).
        invalid_action: ``continue`` (correct and go on) or ``end`` (the episode ends).
        keep: ``memory`` (from the first state block through the action) or ``whole`` (the whole
            response) survives in ``mem1`` mode.
        source: the file it was loaded from (None when built in Python).
    """

    name: str
    state_tag: str
    action_tags: tuple[str, ...]
    final_tag: str
    search_tag: str | None
    instruction: str
    discarded_tags: tuple[str, ...] = ()
    observation_tag: str = "information"
    invalid_message: str = ""
    family: str = "qa"
    question_separator: str = QUESTION_SEPARATOR
    strip_questions: bool = True
    add_question_mark: bool = False
    hint_template: str = "[HINT]You have {{ turns_left }} turns left.[/HINT]"
    last_turn_hint_template: str = (
        "[HINT]You have {{ turns_left }} turn left. You must answer the question now.[/HINT]"
    )
    observation_template: str = _QA_OBSERVATION
    invalid_observation_template: str | None = None
    blocked_strings: tuple[str, ...] = ("<information>",)
    blocked_on_last_turn: tuple[str, ...] = ("<search>",)
    invalid_action: str = "continue"
    keep: str = "memory"
    source: str | None = None

    def open(self, tag: str) -> str:
        return f"<{tag}>"

    def close(self, tag: str) -> str:
        return f"</{tag}>"

    def join_questions(self, questions: Sequence[str]) -> str:
        """Questions of one task as one string (MEM1's format: joined with ``"; "``)."""
        parts = [q.strip() if self.strip_questions else q for q in questions]
        if self.add_question_mark:
            parts = [q if q.endswith("?") else q + "?" for q in parts]
        return self.question_separator.join(parts)

    def build_prompt(self, questions: Sequence[str]) -> str:
        """The task prompt (the user message) for a list of questions."""
        return _render(self.instruction, questions=self.join_questions(questions), state=self.state_tag)

    def hint(self, turns_left: int) -> str:
        """MEM1's turn hint; with one turn left it tells the model it must answer next."""
        template = self.hint_template if turns_left > 1 else self.last_turn_hint_template
        return _render(template, turns_left=turns_left)

    def observation(self, body: str, turns_left: int, invalid: bool = False) -> str:
        """Wrap an environment's text (rendered docs, a page, a correction) with the hint."""
        template = self.observation_template
        if invalid and self.invalid_observation_template is not None:
            template = self.invalid_observation_template
        return _render(template, tag=self.observation_tag, hint=self.hint(turns_left), body=body)

    def stop_strings(self, last_turn: bool) -> tuple[str, ...]:
        """Closing tags that end a response; on the last turn only the final action's."""
        if last_turn:
            return (self.close(self.final_tag),)
        return tuple(self.close(tag) for tag in self.action_tags)

    def banned_strings(self, last_turn: bool) -> tuple[str, ...]:
        """Strings the model may not write (observations, search on the last turn: per the file)."""
        return self.blocked_strings + (self.blocked_on_last_turn if last_turn else ())


# ----------------------------------------------------------------------------- profile files
#: the file's keys -> the PromptProfile field each sets (``questions`` is a block of three)
_FILE_KEYS = {
    "name": "name",
    "family": "family",
    "state_tag": "state_tag",
    "action_tags": "action_tags",
    "final_tag": "final_tag",
    "search_tag": "search_tag",
    "discarded_tags": "discarded_tags",
    "observation_tag": "observation_tag",
    "instruction": "instruction",
    "hint": "hint_template",
    "last_turn_hint": "last_turn_hint_template",
    "observation": "observation_template",
    "invalid_observation": "invalid_observation_template",
    "blocked_strings": "blocked_strings",
    "blocked_on_last_turn": "blocked_on_last_turn",
    "invalid_action": "invalid_action",
    "invalid_message": "invalid_message",
    "keep": "keep",
}
_QUESTION_KEYS = {
    "separator": "question_separator",
    "strip": "strip_questions",
    "add_question_mark": "add_question_mark",
}
_REQUIRED = ("name", "family", "state_tag", "action_tags", "final_tag", "instruction")
#: each template's variables, as the profile renders it (sample values: the load-time check)
_TEMPLATE_VARIABLES = {
    "instruction": {"questions": "q1; q2", "state": "think"},
    "hint": {"turns_left": 2},
    "last_turn_hint": {"turns_left": 1},
    "observation": {"tag": "information", "hint": "h", "body": "b"},
    "invalid_observation": {"tag": "information", "hint": "h", "body": "b"},
}


@lru_cache(maxsize=1)
def _shipped_texts() -> dict[str, str]:
    """The built-in profiles' YAML by name where their files are absent: in a model repository's
    remote code (transformers copies only Python files, so ``remote_code.py`` writes them as the
    module ``mem1_profile_texts`` beside the code)."""
    try:
        from .mem1_profile_texts import TEXTS  # type: ignore[import-not-found]  (remote code only)
    except ImportError:
        return {}
    return TEXTS


def _is_shipped_text(path: Path) -> bool:
    return path.parent == PROFILE_DIR and not path.is_file() and path.stem in _shipped_texts()


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = _shipped_texts()[path.stem] if _is_shipped_text(path) else path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as err:
        raise Mem1InputError(f"cannot read prompt profile {path}: {err}") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise Mem1InputError(f"prompt profile {path}: not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise Mem1InputError(
            f"prompt profile {path}: expected a mapping of settings, got {type(data).__name__}"
        )
    return data


def _resolve_extends(data: dict[str, Any], path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """``extends: NAME_OR_PATH``: the parent's keys, overridden by this file's."""
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise Mem1InputError(f"prompt profile {path}: extends must be a profile name or a file path")
    try:
        parent_path = _profile_file(parent, relative_to=path.parent)
    except Mem1InputError as err:
        raise Mem1InputError(f"prompt profile {path}: extends: {err}") from None
    if parent_path in seen:
        raise Mem1InputError(f"prompt profile {path}: extends itself through {parent!r}")
    base = _resolve_extends(_read_yaml(parent_path), parent_path, (*seen, parent_path))
    return {**base, **data}


def _profile_file(name_or_path: str, relative_to: Path | None = None) -> Path:
    builtin = PROFILE_DIR / f"{name_or_path}.yaml"
    if "/" not in name_or_path and os.sep not in name_or_path:
        if builtin.is_file() or name_or_path in _shipped_texts():
            return builtin
    path = Path(name_or_path).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if path.is_file():
        return path.resolve()
    raise Mem1InputError(
        f"unknown prompt profile {name_or_path!r}; choose one of {', '.join(builtin_profile_names())} "
        "or give a profile file (.yaml)"
    )


def _as_tuple(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Mem1InputError(f"prompt profile {path}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def load_profile(path: str | os.PathLike) -> PromptProfile:
    """Load a profile file (YAML; ``extends:`` another profile by name or path).

    A malformed file is one :class:`~mem1_hf.errors.Mem1InputError` naming the file and the key.

    Example:
        >>> load_profile(PROFILE_DIR / "mem1-paper.yaml").state_tag
        'IS'
    """
    path = Path(path).expanduser().resolve()
    if not (path.is_file() or _is_shipped_text(path)):
        raise Mem1InputError(f"prompt profile file not found: {path}")
    data = _resolve_extends(_read_yaml(path), path, (path,))
    known = set(_FILE_KEYS) | {"questions"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise Mem1InputError(
            f"prompt profile {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    missing = [k for k in _REQUIRED if data.get(k) in (None, "", [])]
    if missing:
        raise Mem1InputError(f"prompt profile {path}: missing {', '.join(missing)}")
    kwargs: dict[str, Any] = {"source": str(path)}
    for key, name in _FILE_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if name in ("action_tags", "discarded_tags", "blocked_strings", "blocked_on_last_turn"):
            value = _as_tuple(value, key, path)
        elif value is not None and not isinstance(value, str):
            raise Mem1InputError(f"prompt profile {path}: {key} must be a string, got {value!r}")
        kwargs[name] = value
    questions = data.get("questions") or {}
    if not isinstance(questions, dict) or set(questions) - set(_QUESTION_KEYS):
        raise Mem1InputError(
            f"prompt profile {path}: questions must be a mapping of {', '.join(_QUESTION_KEYS)}, got {questions!r}"
        )
    for key, name in _QUESTION_KEYS.items():
        if key in questions:
            value = questions[key]
            if (key == "separator") != isinstance(value, str):
                want = "a string" if key == "separator" else "true or false"
                raise Mem1InputError(f"prompt profile {path}: questions.{key} must be {want}, got {value!r}")
            kwargs[name] = value
    profile = PromptProfile(**kwargs)
    _check(profile, path)
    return profile


def _check(profile: PromptProfile, path: Path) -> None:
    """Refuse a profile the loop could not run, naming the key."""
    if profile.final_tag not in profile.action_tags:
        raise Mem1InputError(f"prompt profile {path}: final_tag {profile.final_tag!r} is not in action_tags")
    if profile.search_tag is not None and profile.search_tag not in profile.action_tags:
        raise Mem1InputError(
            f"prompt profile {path}: search_tag {profile.search_tag!r} is not in action_tags"
        )
    if profile.invalid_action not in INVALID_ACTION_POLICIES:
        raise Mem1InputError(
            f"prompt profile {path}: invalid_action must be one of {', '.join(INVALID_ACTION_POLICIES)}, "
            f"got {profile.invalid_action!r}"
        )
    if profile.keep not in KEEP_POLICIES:
        raise Mem1InputError(
            f"prompt profile {path}: keep must be one of {', '.join(KEEP_POLICIES)}, got {profile.keep!r}"
        )
    import jinja2

    # render every template once with the variables it is given at run time: a syntax error or an
    # unknown variable shows now, naming its key, not mid-run
    for key, values in _TEMPLATE_VARIABLES.items():
        template = getattr(profile, _FILE_KEYS[key])
        if template is None:
            continue
        try:
            _render(template, **values)
        except jinja2.TemplateError as err:
            raise Mem1InputError(f"prompt profile {path}: {key}: {err}") from None


@lru_cache(maxsize=1)
def builtin_profile_names() -> tuple[str, ...]:
    """The names of the built-in profiles (files in ``mem1_hf/profiles/``), the default first."""
    names = sorted({p.stem for p in PROFILE_DIR.glob("*.yaml")} | set(_shipped_texts()))
    return tuple(sorted(names, key=lambda n: (n != DEFAULT_PROFILE, n)))


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> PromptProfile:
    return load_profile(path)


class _BuiltinProfiles(Mapping[str, PromptProfile]):
    """``PROFILES``: the built-in profiles by name, each loaded from its file on first use."""

    def __getitem__(self, name: str) -> PromptProfile:
        if name not in self.names():
            raise KeyError(name)
        return get_profile(name)

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    @staticmethod
    def names() -> tuple[str, ...]:
        return builtin_profile_names()


#: the built-in profiles by name (a read-only mapping; files in ``mem1_hf/profiles/``)
PROFILES: Mapping[str, PromptProfile] = _BuiltinProfiles()


def encode_user_message(tokenizer, text: str) -> list[int]:
    """The ids of the chat template of one user message, ready for the assistant's turn.

    Later turns append the kept memory and observation ids, which equals the chat template of
    ``[user: prompt, assistant: memory]`` with its trailing end-of-turn removed (docs/design.md).

    Example:
        >>> ids = encode_user_message(tokenizer, "Questions: who?")  # doctest: +SKIP
    """
    if not getattr(tokenizer, "chat_template", None):
        raise Mem1InputError("the model's tokenizer has no chat template; pass an instruct/chat model")
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    if hasattr(ids, "keys"):  # a BatchEncoding in some transformers versions
        ids = ids["input_ids"]
    return list(ids)


def encode_prompt(tokenizer, profile: PromptProfile, questions: Sequence[str]) -> list[int]:
    """The task prompt's ids for a QA task (see :func:`encode_user_message`).

    Example:
        >>> ids = encode_prompt(tokenizer, get_profile("mem1-qa"), ["who?", "when?"])  # doctest: +SKIP
    """
    return encode_user_message(tokenizer, profile.build_prompt(questions))


def get_profile(profile: str | os.PathLike | PromptProfile) -> PromptProfile:
    """A profile by built-in name or file path (or a :class:`PromptProfile` passed through).

    Example:
        >>> get_profile("mem1-webshop").state_tag, get_profile("search-r1").keep
        ('summary', 'whole')
    """
    if isinstance(profile, PromptProfile):
        return profile
    if not isinstance(profile, (str, os.PathLike)):
        raise Mem1InputError(
            f"prompt_profile must be a name, a file path or a PromptProfile, got {profile!r}"
        )
    path = _profile_file(os.fspath(profile))
    return _load_cached(str(path), path.stat().st_mtime if path.is_file() else 0.0)
