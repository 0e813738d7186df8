"""Helpers for the config dataclasses, the single source of every setting.

Each setting is a dataclass field with its default and ``metadata={"help": ...}`` (e.g.
:class:`~mem1_hf.loop.LoopConfig`, :class:`~mem1_hf.policy.PolicyConfig`,
:class:`~mem1_hf.model_loading.ModelConfig`); the CLIs build their flags from those fields
with ``transformers.HfArgumentParser`` and the pipeline routes its keyword arguments by them.
:func:`same_as` lets another config offer the same setting (same default and help, or a
deliberate other default); :func:`from_args` turns parsed arguments back into a config.

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class A:
    ...     topk: int = field(default=3, metadata={"help": "documents per search"})
    >>> @dataclass
    ... class B:
    ...     topk: int = same_as(A, "topk")
    ...     batch: int = 4
    >>> B().topk, from_args(A, type("Args", (), {"topk": 5, "other": 1})()).topk
    (3, 5)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError


def same_as(config: type, name: str, **changes: Any) -> Any:
    """A field like ``config``'s field ``name`` (default and metadata), with ``changes``
    (``default=...``, ``help=...``) applied."""
    source = next(f for f in dataclasses.fields(config) if f.name == name)
    metadata = dict(source.metadata)
    if "help" in changes:
        metadata["help"] = changes.pop("help")
    default = changes.pop("default", source.default)
    if changes:
        raise TypeError(f"same_as: unknown changes {sorted(changes)}")
    return dataclasses.field(default=default, metadata=metadata)


def from_args(config: type, args: Any, **overrides: Any) -> Any:
    """``config(**{field: args.field})`` for every field of ``config`` that ``args`` has."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config) if hasattr(args, f.name)}
    return config(**{**values, **overrides})


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """The settings of a YAML config file, a mapping; a missing, unreadable or non-mapping file is
    one :class:`~mem1_hf.errors.Mem1InputError` naming it (``mem1 train`` and the SFT config)."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise Mem1InputError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise Mem1InputError(f"{path}: not valid YAML ({type(err).__name__})") from err
    if not isinstance(data, dict):
        raise Mem1InputError(f"{path}: expected a mapping of settings at the top level")
    return data


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` that shows each flag's default once: not when the help already says what the
    default is (``default: ...``, a checkpoint's), not ``None`` or a switch's ``False``; and a
    generated ``--no_X`` flag says what it turns off instead of repeating ``--X``'s help.

    Example:
        >>> parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
        >>> _ = parser.add_argument("--out", help="run folder (default: the data's)")
        >>> _ = parser.add_argument("--topk", type=int, default=3, help="documents per search")
        >>> "(default: None)" in parser.format_help(), "(default: 3)" in parser.format_help()
        (False, True)
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if isinstance(action, argparse._StoreFalseAction) and any(
            o.startswith("--no") for o in action.option_strings
        ):
            flag = action.dest.replace("_", "-")
            return f"turn off --{flag}"
        if (
            getattr(action, "checkpoint_default", False)
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return super()._get_help_string(action)


def defer_to_checkpoint(parser: argparse.ArgumentParser, fallbacks: Mapping[str, Any]) -> None:
    """Make the flags named by ``fallbacks`` (dest -> the library default shown in ``--help``)
    default to ``None``, so "not given" differs from "given the default" and a checkpoint's
    ``agent_config.json`` can fill the gap (:class:`~mem1_hf.agent_config.AgentConfig`).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = parser.add_argument("--topk", type=int, default=3, help="documents per search")
        >>> defer_to_checkpoint(parser, {"topk": 3})
        >>> parser.parse_args([]).topk, parser.parse_args(["--topk", "3"]).topk
        (None, 3)
    """
    for action in parser._actions:
        if action.dest in fallbacks:
            action.default = None
            action.help = (
                f"{action.help} (default: the checkpoint's agent_config.json, else {fallbacks[action.dest]})"
            )
            action.checkpoint_default = True  # type: ignore[attr-defined]
    parser.formatter_class = HelpFormatter  # its flags say their own default
