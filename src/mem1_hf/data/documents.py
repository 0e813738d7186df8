"""A passage of a retrieval corpus, and how MEM1 shows retrieved passages to the agent.

The corpus format is Search-R1 / FlashRAG / MEM1's: ``contents`` is ``"\\"Title\\"\\ntext"``.
:func:`render_docs` is MEM1's observation format (``Doc k(Title: <title>) <text>``), so every
search environment produces the same observation text.

Example:
    >>> docs = [Document(id="0", contents='"Paris"\\nParis is the capital of France.')]
    >>> docs[0].title, docs[0].text
    ('"Paris"', 'Paris is the capital of France.')
    >>> print(render_docs(docs), end="")
    Doc 1(Title: "Paris") Paris is the capital of France.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Document:
    """One retrieved passage in the Search-R1 / FlashRAG / MEM1 corpus format.

    ``contents`` is ``"\\"Title\\"\\ntext"``: the first line is the title, the rest the text.
    """

    id: str
    contents: str
    score: float | None = None

    @property
    def title(self) -> str:
        return self.contents.split("\n", 1)[0]

    @property
    def text(self) -> str:
        parts = self.contents.split("\n", 1)
        return parts[1] if len(parts) > 1 else ""

    def to_dict(self) -> dict:
        return {"id": self.id, "contents": self.contents, "score": self.score}


def render_docs(docs: Sequence[Document]) -> str:
    """Render documents as MEM1 does: one ``Doc k(Title: t) text`` line per document."""
    return "".join(f"Doc {k}(Title: {d.title}) {d.text}\n" for k, d in enumerate(docs, start=1))
