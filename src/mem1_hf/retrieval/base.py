"""What the agent loop needs from a question-answering environment.

A QA environment answers a batch of search queries with ranked documents. The agent loop
renders them into the ``<information>`` observation with :func:`render_docs` (MEM1's format:
``Doc k(Title: <title>) <text>``), so every environment produces the same observation text.

Example:
    >>> docs = [Document(id="0", contents='"Paris"\\nParis is the capital of France.')]
    >>> print(render_docs(docs), end="")
    Doc 1(Title: "Paris") Paris is the capital of France.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from mem1_hf.data.documents import Document, render_docs
from mem1_hf.errors import Mem1InputError

#: documents returned per search unless a caller asks for another number (MEM1: 3)
DEFAULT_TOPK = 3


class SearchEnvironment(ABC):
    """An environment whose only tool is search (local corpus, remote server, the web).

    Subclasses implement :meth:`search`; the agent loop calls :meth:`search_text` once per
    turn with the queries of every task in the batch that searched.
    """

    #: documents returned per query unless a call asks for another number
    topk: int = DEFAULT_TOPK

    @abstractmethod
    def search(self, queries: Sequence[str], topk: int | None = None) -> list[list[Document]]:
        """Return, for each query, its ``topk`` best documents, best first."""

    def search_text(self, queries: Sequence[str], topk: int | None = None) -> list[str]:
        """Search and render each query's documents as observation text."""
        if not queries:
            return []
        return [render_docs(docs) for docs in self.search(list(queries), topk)]


class FunctionSearchEnv(SearchEnvironment):
    """A search environment from a plain function: no mem1-hf class needed (e.g. remote code).

    ``fn(queries, topk)`` returns, per query, its documents: :class:`Document` objects, dicts
    with ``contents`` (or ``title`` and ``text``), or plain strings (text without a title).

    Example:
        >>> env = FunctionSearchEnv(lambda qs, k: [[{"title": "Paris", "text": "Capital."}] for q in qs])
        >>> env.search_text(["capital of France?"])
        ['Doc 1(Title: "Paris") Capital.\\n']
    """

    def __init__(self, fn, topk: int = DEFAULT_TOPK):
        self.fn = fn
        self.topk = topk

    def search(self, queries: Sequence[str], topk: int | None = None) -> list[list[Document]]:
        results = self.fn(list(queries), topk or self.topk)
        return [[_as_document(doc, i) for i, doc in enumerate(docs)] for docs in results]


def _as_document(doc, index: int) -> Document:
    if isinstance(doc, Document):
        return doc
    if isinstance(doc, str):
        return Document(id=str(index), contents=f"\n{doc}")
    if isinstance(doc, dict):
        contents = doc.get("contents")
        if contents is None:
            title = str(doc.get("title", "")).strip('"')
            contents = f'"{title}"\n{doc.get("text", "")}'
        return Document(id=str(doc.get("id", index)), contents=contents, score=doc.get("score"))
    raise Mem1InputError(
        f"a search function returned a {type(doc).__name__}; expected a Document, dict or str"
    )
