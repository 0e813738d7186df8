"""Client environment for any Search-R1 / MEM1 retrieval server.

The server answers ``POST {url}/retrieve`` with ``{"queries": [...], "topk": k,
"return_scores": true}`` by ``{"result": [[{"document": {"id", "contents"}, "score": s}, ...],
...]}`` — the API of Search-R1's ``retrieval_server.py`` (wiki-18 + e5), MEM1's copy of it and
``mem1 serve-retriever``. A whole batch of queries goes out in one request, so training ranks on
several machines can share one index.

Example:
    >>> from mem1_hf.retrieval import RemoteRetrievalEnv
    >>> env = RemoteRetrievalEnv("http://127.0.0.1:8013", topk=3)  # doctest: +SKIP
    >>> print(env.search_text(["who wrote Hamlet"])[0])  # doctest: +SKIP
    Doc 1(Title: "Hamlet") The Tragedy of Hamlet, Prince of Denmark ...
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import requests

from mem1_hf.data.documents import Document
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.retrieval.base import DEFAULT_TOPK, SearchEnvironment
from mem1_hf.retrieval.http import RetriesExhausted, post_with_retries, thread_session
from mem1_hf.retrieval.protocol import (
    DEFAULT_PORT,
    MAX_DOCUMENTS_PER_REQUEST,
    MAX_QUERIES_PER_REQUEST,
    TOKEN_ENV,
)


class RetrievalServerError(Mem1EnvironmentError):
    """The retrieval server is unreachable or answered an error (one-line message)."""


def _document(item: Any, where: str) -> Document:
    """A :class:`Document` from one result item: ``{"document": {...}, "score": s}`` or a bare doc."""
    if not isinstance(item, dict):
        raise RetrievalServerError(f"{where}: expected a JSON object per document, got {type(item).__name__}")
    doc, score = (item["document"], item.get("score")) if "document" in item else (item, None)
    if not isinstance(doc, dict):
        raise RetrievalServerError(f"{where}: 'document' is not a JSON object")
    if "contents" in doc:
        contents = str(doc["contents"])
    elif "title" in doc or "text" in doc:  # FlashRAG-style corpora split title and text
        contents = f'"{doc.get("title", "")}"\n{doc.get("text", "")}'
    else:
        raise RetrievalServerError(f"{where}: document has no 'contents' (nor 'title'/'text')")
    return Document(
        id=str(doc.get("id", "")), contents=contents, score=None if score is None else float(score)
    )


class RemoteRetrievalEnv(SearchEnvironment):
    """Search through a Search-R1 / MEM1 retrieval server; one HTTP request per batch.

    Args:
        url: server root, e.g. ``http://127.0.0.1:8013`` (``/retrieve`` is appended; a URL
            already ending in ``/retrieve`` is accepted too).
        topk: documents per query unless a call asks for another number.
        timeout: seconds to wait for each attempt's answer.
        max_retries: further attempts after a connection error, timeout, 429 or 5xx.
        backoff: first wait between attempts in seconds, doubled each retry (capped at ``max_wait``).
        token: bearer token for a server that requires one (default ``$MEM1_RETRIEVER_TOKEN``);
            sent as ``Authorization: Bearer …``, which ``requests`` drops on a redirect to
            another host.
        max_documents: most documents one request asks for (queries × topk); a larger batch
            goes out as several requests, answers in order. The default is ``mem1
            serve-retriever``'s bound (``--max-documents``); requests also carry at most 4,096
            queries (its ``--max-queries``).

    Example:
        >>> env = RemoteRetrievalEnv("http://127.0.0.1:8013")  # doctest: +SKIP
        >>> [d.title for d in env.search(["Eiffel tower"], topk=2)[0]]  # doctest: +SKIP
        ['"Eiffel Tower"', '"Gustave Eiffel"']
    """

    def __init__(
        self,
        url: str = f"http://127.0.0.1:{DEFAULT_PORT}",
        topk: int = DEFAULT_TOPK,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 10.0,
        token: str | None = None,
        max_documents: int = MAX_DOCUMENTS_PER_REQUEST,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise Mem1InputError(f"retrieval server url must start with http:// or https://, got {url!r}")
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise Mem1InputError(f"topk must be an integer >= 1, got {topk!r}")
        if max_retries < 0 or timeout <= 0:
            raise Mem1InputError("timeout must be > 0 and max_retries >= 0")
        if isinstance(max_documents, bool) or not isinstance(max_documents, int) or max_documents < 1:
            raise Mem1InputError(f"max_documents must be an integer >= 1, got {max_documents!r}")
        root = url.rstrip("/")
        self.url = root[: -len("/retrieve")] if root.endswith("/retrieve") else root
        self.topk = topk
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.max_documents = max_documents
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        # requests.Session is not documented thread-safe: one per thread (rollout workers)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RemoteRetrievalEnv(url={self.url!r}, topk={self.topk})"  # never the token

    @property
    def _session(self) -> requests.Session:
        return thread_session(self._local)

    def search(self, queries: Sequence[str], topk: int | None = None) -> list[list[Document]]:
        """Return each query's ``topk`` documents from the server, best first (scores if sent).

        Example:
            >>> env.search(["capital of France"])[0][0].score  # doctest: +SKIP
            21.4
        """
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise Mem1InputError("queries must be a list of strings")
        k = self.topk if topk is None else topk
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise Mem1InputError(f"topk must be an integer >= 1, got {k!r}")
        if not queries:
            return []
        # a server bounds queries x topk per request: a large batch goes out in pieces
        step = max(1, min(MAX_QUERIES_PER_REQUEST, self.max_documents // k))
        rows: list[list[Document]] = []
        for start in range(0, len(queries), step):
            rows += self._request(list(queries[start : start + step]), k)
        return rows

    def _request(self, queries: list[str], k: int) -> list[list[Document]]:
        endpoint = f"{self.url}/retrieve"
        payload = {"queries": queries, "topk": k, "return_scores": True}
        try:
            response = post_with_retries(
                self._session,
                endpoint,
                payload,
                headers={"Authorization": f"Bearer {self._token}"} if self._token else None,
                timeout=self.timeout,
                max_retries=self.max_retries,
                backoff=self.backoff,
                max_wait=self.max_wait,
            )
        except RetriesExhausted as err:
            raise RetrievalServerError(
                f"retrieval server {self.url} is not reachable ({err.reason}, {err.attempts} attempt(s)); "
                "is it running? start one with `mem1 serve-retriever --index DIR`"
            ) from None
        if response.status_code != 200:
            body = " ".join(response.text.split())[:200]
            raise RetrievalServerError(
                f"retrieval server {endpoint} answered HTTP {response.status_code}: {body}"
            )
        return self._parse(response, len(queries))

    def _parse(self, response: requests.Response, n: int) -> list[list[Document]]:
        where = f"retrieval server {self.url}"
        try:
            data = response.json()
        except ValueError:
            raise RetrievalServerError(f"{where} did not answer JSON") from None
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list) or len(result) != n or not all(isinstance(r, list) for r in result):
            raise RetrievalServerError(
                f"{where}: expected {{'result': [...]}} with one list per query ({n}), got another shape"
            )
        return [[_document(item, where) for item in row] for row in result]
