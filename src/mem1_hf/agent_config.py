"""A checkpoint's agent settings: ``agent_config.json`` beside the weights.

``generation_config.json`` carries a checkpoint's sampling settings; ``agent_config.json`` carries
the settings of the agent loop it was trained and evaluated with: prompt profile, memory mode,
retrieval top-k, observation cut, new tokens per turn and turn budget. Every reader applies one
precedence: **an explicit argument > the checkpoint's agent_config.json > the library default**
(the field defaults of :class:`~mem1_hf.loop.LoopConfig` and :class:`~mem1_hf.policy.PolicyConfig`,
or a task family's turn budget). A field left ``None`` (``null`` in the file) is not set by the
checkpoint: the library default applies.

Read by ``pipeline("mem1-agent", model=...)`` (from the model's folder or Hub repository),
``mem1 run``, ``mem1 eval``, ``mem1 trajectories --policy model`` and the demo; written by the RL
trainer's saves, ``mem1 push model`` and the shipped adapters (``mem1_hf/adapters/*/``).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = AgentConfig(topk=2, max_obs_tokens=160, max_new_tokens=128).save_pretrained(folder)
    >>> config = AgentConfig.from_pretrained(folder)
    >>> config.topk, config.max_turns
    (2, None)
    >>> config.merge({"topk": 5, "max_obs_tokens": None})  # explicit wins; None means "not given"
    {'topk': 5, 'max_obs_tokens': 160, 'max_new_tokens': 128}
    >>> config.describe({"topk": 5})
    'settings from the checkpoint: max_obs_tokens=160, max_new_tokens=128'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError
from mem1_hf.keep_rule import MODES
from mem1_hf.prompts import get_profile

AGENT_CONFIG_NAME = "agent_config.json"
#: the settings a checkpoint can carry (each is also a pipeline argument), in the order printed
SETTING_NAMES = ("prompt_profile", "mode", "topk", "max_obs_tokens", "max_new_tokens", "max_turns")
#: keys a file may hold besides the fields (written for provenance, ignored when read)
_METADATA_KEYS = ("mem1_hf_version",)


@dataclass
class AgentConfig:
    """The agent settings a checkpoint was trained and evaluated with (``agent_config.json``).

    Every field is optional: ``None`` leaves that setting to the library default.
    """

    prompt_profile: str | None = field(
        default=None,
        metadata={
            "help": "prompt profile: a built-in name (mem1-qa, mem1-paper, mem1-webshop, mem1-release, "
            "search-r1) or a profile file path; None: the library's or family's"
        },
    )
    mode: str | None = field(
        default=None,
        metadata={"help": "memory mode: mem1, full_context or truncate (what survives a turn); None: mem1"},
    )
    topk: int | None = field(default=None, metadata={"help": "documents per search; None: the library's (3)"})
    max_obs_tokens: int | None = field(
        default=None, metadata={"help": "observations are cut to this many tokens; None: the library's (512)"}
    )
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "the response budget per turn (tokens); None: the library's (256)"}
    )
    max_turns: int | None = field(
        default=None,
        metadata={
            "help": "turns per task; None: the task family's budget for its objective count (QA: 6 up to 4 "
            "objectives, then objectives + 4; WebShop: 10) where the caller applies it (mem1 eval, "
            "trajectories, training), LoopConfig's 6 in the pipeline and mem1 run"
        },
    )
    task_family: str | None = field(
        default=None,
        metadata={"help": "the task family it was trained for (qa or webshop); informational"},
    )

    def __post_init__(self) -> None:
        for name in ("prompt_profile", "mode", "task_family"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise Mem1InputError(f"agent config: {name} must be a string or null, got {value!r}")
        if self.prompt_profile is not None:
            try:
                get_profile(self.prompt_profile)
            except Mem1InputError as err:
                raise Mem1InputError(f"agent config: {err}") from None
        if self.mode is not None and self.mode not in MODES:
            raise Mem1InputError(f"agent config: unknown mode {self.mode!r}; choose {', '.join(MODES)}")
        for name in ("topk", "max_obs_tokens", "max_new_tokens", "max_turns"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise Mem1InputError(f"agent config: {name} must be an integer >= 1 or null, got {value!r}")

    # ------------------------------------------------------------------ the settings
    def settings(self) -> dict[str, Any]:
        """The settings this checkpoint sets (the non-``None`` ones of :data:`SETTING_NAMES`).

        Example:
            >>> AgentConfig(topk=2, task_family="qa").settings()
            {'topk': 2}
        """
        return {name: getattr(self, name) for name in SETTING_NAMES if getattr(self, name) is not None}

    def merge(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` (explicit arguments; ``None`` means not given) completed with this checkpoint's
        settings. A setting neither gives is absent: the caller's library default applies."""
        out = {k: v for k, v in given.items() if not (k in SETTING_NAMES and v is None)}
        for name, value in self.settings().items():
            out.setdefault(name, value)
        return out

    def from_checkpoint(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The settings :meth:`merge` takes from this checkpoint (those ``given`` leaves out)."""
        return {k: v for k, v in self.settings().items() if given.get(k) is None}

    def describe(self, given: Mapping[str, Any]) -> str:
        """The one line a CLI prints: which settings came from the checkpoint ("" when none did)."""
        taken = self.from_checkpoint(given)
        if not taken:
            return ""
        return "settings from the checkpoint: " + ", ".join(f"{k}={v}" for k, v in taken.items())

    # ------------------------------------------------------------------ the file
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "agent config") -> AgentConfig:
        """A config from a mapping; an unknown key or a bad value is one :class:`Mem1InputError`."""
        if not isinstance(data, Mapping):
            raise Mem1InputError(f"{source}: expected a JSON object of settings, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - set(_METADATA_KEYS))
        if unknown:
            raise Mem1InputError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except Mem1InputError as err:
            raise Mem1InputError(f"{source}: {str(err).removeprefix('agent config: ')}") from None

    def to_dict(self) -> dict[str, Any]:
        """Every field (``None`` included: a ``null`` says "the library default")."""
        return asdict(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write ``agent_config.json`` into ``save_directory`` (created if missing); return its path.

        This is what a trainer's save calls beside ``model.save_pretrained(save_directory)``.
        """
        from mem1_hf.version import __version__

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / AGENT_CONFIG_NAME
        data = {**self.to_dict(), "mem1_hf_version": __version__}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike, **hub_kwargs: Any) -> AgentConfig | None:
        """The ``agent_config.json`` of a checkpoint folder, a JSON file, or a Hub repository
        (through the local cache offline); ``None`` when it has none. A malformed file is one
        :class:`Mem1InputError` naming it.

        ``hub_kwargs`` (``revision``, ``token``, …) go to ``transformers.utils.cached_file``.
        """
        path = Path(path_or_repo_id)
        if path.is_file():
            file: Path | None = path
        elif path.is_dir():
            file = path / AGENT_CONFIG_NAME
            if not file.is_file():
                return None
        else:
            file = _hub_file(str(path_or_repo_id), **hub_kwargs)
            if file is None:
                return None
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise Mem1InputError(f"{file}: not valid JSON ({err.msg}, line {err.lineno})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise Mem1InputError(f"cannot read {file}: {err}") from None
        return cls.from_dict(data, source=str(file))


def _hub_file(repo_id: str, **hub_kwargs: Any) -> Path | None:
    """``agent_config.json`` of a Hub repository (downloaded, or from the cache offline), else None."""
    if not repo_id or repo_id.count("/") > 1 or repo_id.startswith((".", "/", "~")):
        return None  # a local path that does not exist is no Hub id
    from transformers.utils import cached_file

    try:
        found = cached_file(
            repo_id,
            AGENT_CONFIG_NAME,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
            **hub_kwargs,
        )
    except (OSError, ValueError):  # no such repository, or not reachable: the model load says why
        return None
    return Path(found) if found else None


def as_agent_config(value: AgentConfig | Mapping[str, Any] | str | os.PathLike) -> AgentConfig:
    """An :class:`AgentConfig` from a config, a mapping, or a checkpoint folder / JSON file path
    (the pipeline's ``agent_config=`` argument). A path without one is an error.

    Example:
        >>> as_agent_config({"topk": 2}).topk
        2
    """
    if isinstance(value, AgentConfig):
        return value
    if isinstance(value, Mapping):
        return AgentConfig.from_dict(value)
    if isinstance(value, (str, os.PathLike)):
        config = AgentConfig.from_pretrained(value)
        if config is None:
            raise Mem1InputError(f"agent_config: no {AGENT_CONFIG_NAME} at {value}")
        return config
    raise Mem1InputError(f"agent_config must be an AgentConfig, a dict or a path, got {type(value).__name__}")
