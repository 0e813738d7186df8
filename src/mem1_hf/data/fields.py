"""Field mapping: read any JSON / JSONL QA or passage file by naming its fields.

The known layouts are detected by content (:data:`LAYOUTS`). For any other layout the user
names the fields with ``--question-field``, ``--answers-field``, ``--id-field`` (QA records)
and ``--passages-field``, ``--title-field``, ``--text-field`` (passages), on ``mem1 corpus``
and ``mem1 compose``. A field may be a dotted path into nested objects (``meta.question``).

Example:
    >>> fields = FieldMap(question="query", answers="gold.aliases")
    >>> get_field({"query": "q?", "gold": {"aliases": ["a", "b"]}}, fields.answers)
    ['a', 'b']
    >>> bool(FieldMap()), fields.for_qa
    (False, True)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any

#: the layouts detected by content, listed in every "unknown layout" message
LAYOUTS = (
    "HotpotQA or 2WikiMultihopQA (JSON list or JSON lines: question, answer, context, supporting_facts)",
    "IRCoT JSONL (question_text, answers_objects, contexts)",
    "MuSiQue JSONL (question, answer, answer_aliases, paragraphs)",
    "NQ-open oracle JSONL (question, answers, ctxs)",
    "question + answers/golden_answers/answer JSON or JSONL",
    "corpus JSONL ({id, contents} or {id, title, text})",
    "passages JSON ([{title, text}])",
    "HotpotQA titles JSON ({title: [sentences]})",
)

_FLAGS = {
    "question": "the question",
    "answers": "the gold answer(s): a string or a list of strings",
    "id": "the record id (default: a hash of the question)",
    "passages": "the list of passages in each record (objects, or [title, sentences] pairs)",
    "title": "a passage's title",
    "text": "a passage's text (a string, or a list of sentences)",
}


@dataclass(frozen=True)
class FieldMap:
    """Field names (or dotted paths) of a user's own layout; ``None`` = not given."""

    question: str | None = None
    answers: str | None = None
    id: str | None = None
    passages: str | None = None
    title: str | None = None
    text: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def for_qa(self) -> bool:
        """Whether QA records are mapped (a question or answers field is named)."""
        return bool(self.question or self.answers)

    @property
    def for_passages(self) -> bool:
        """Whether passages are mapped (a passages or text field is named)."""
        return bool(self.passages or self.text)


def get_field(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested objects, or ``None`` when absent."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def layouts_message() -> str:
    """The accepted layouts and the field flags, for an "unknown layout" error."""
    flags = ", ".join(f"--{name}-field" for name in _FLAGS)
    return f"accepted layouts: {'; '.join(LAYOUTS)}; for any other JSON/JSONL layout name its fields with {flags}"


def add_field_args(parser: argparse.ArgumentParser) -> None:
    """Add the ``--*-field`` flags to a command that reads QA or passage files."""
    group = parser.add_argument_group(
        "field mapping", "read a JSON/JSONL file in any layout by naming its fields (dotted paths allowed)"
    )
    for name, what in _FLAGS.items():
        group.add_argument(f"--{name}-field", default=None, metavar="FIELD", help=what)


def field_map_from_args(args: argparse.Namespace) -> FieldMap:
    """The :class:`FieldMap` of parsed ``--*-field`` flags."""
    return FieldMap(**{name: getattr(args, f"{name}_field", None) for name in _FLAGS})
