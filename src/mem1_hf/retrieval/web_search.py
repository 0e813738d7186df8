"""Web search environment on the Serper Google Search API (MEM1's open-domain web QA domain).

Each query is one ``POST https://google.serper.dev/search`` with header ``X-API-KEY`` and body
``{"q": query, "num": 10}``; the top ``organic`` results become :class:`Document` objects whose
contents are ``"Title"\\nsnippet (URL)``, so MEM1's rendering shows title, snippet and URL:
``Doc 1(Title: "Title") snippet (https://...)``.

The API key comes from the ``api_key`` argument or ``SERPER_API_KEY``. It is sent only in the
header, only to ``base_url`` (a redirect is an error, never followed with the key), and never
appears in logs, exceptions or their chains, ``repr`` or returned text (it is redacted from
anything the service sends back).

Example:
    >>> from mem1_hf.retrieval import WebSearchEnv
    >>> env = WebSearchEnv()  # reads SERPER_API_KEY  # doctest: +SKIP
    >>> print(env.search_text(["capital of France"])[0])  # doctest: +SKIP
    Doc 1(Title: "Paris - Wikipedia") Paris is the capital and largest city of France. (https://en.wikipedia.org/wiki/Paris)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests

from mem1_hf.data.documents import Document
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.retrieval.base import SearchEnvironment
from mem1_hf.retrieval.http import RetriesExhausted, post_with_retries, thread_session

SERPER_URL = "https://google.serper.dev/search"
API_KEY_ENV = "SERPER_API_KEY"
_REDACTED = "[redacted]"


class WebSearchError(Mem1EnvironmentError):
    """The search service is unreachable, refused the key, or answered an error."""


class _Secret:
    """A string whose ``repr``/``str`` are redacted, so attribute dumps (``vars(env)``) hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return repr(_REDACTED)

    __str__ = __repr__

    def reveal(self) -> str:
        return self._value


def _as_text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


class WebSearchEnv(SearchEnvironment):
    """Google search through Serper; ``search`` sends a batch's queries concurrently.

    Args:
        api_key: Serper key; default ``$SERPER_API_KEY``. Kept private, never shown.
        topk: results per query (Serper's page holds 10).
        base_url: the search endpoint; tests point it at a local server.
        timeout: seconds to wait for each attempt's answer.
        max_retries: further attempts after a connection error, timeout, 429 or 5xx.
        backoff: first wait between attempts in seconds, doubled each retry; a 429's
            ``Retry-After`` replaces it. No wait exceeds ``max_wait``.
        max_concurrency: queries in flight at once.
        extra_params: merged into each request body, e.g. ``{"gl": "us", "hl": "en"}``.

    Example:
        >>> env = WebSearchEnv(api_key="...", topk=5, extra_params={"gl": "us"})  # doctest: +SKIP
        >>> env.search(["MEM1 agent"])[0][0].id  # the result's URL  # doctest: +SKIP
        'https://arxiv.org/abs/2506.15841'
    """

    def __init__(
        self,
        api_key: str | None = None,
        topk: int = 10,
        *,
        base_url: str = SERPER_URL,
        timeout: float = 15.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_wait: float = 30.0,
        max_concurrency: int = 8,
        extra_params: Mapping[str, Any] | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not isinstance(key, str) or not key.strip():
            raise Mem1InputError(
                f"no Serper API key: set {API_KEY_ENV} or pass api_key= (get one at https://serper.dev)"
            )
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise Mem1InputError(f"topk must be an integer >= 1, got {topk!r}")
        if max_retries < 0 or timeout <= 0 or max_concurrency < 1:
            raise Mem1InputError("timeout must be > 0, max_retries >= 0 and max_concurrency >= 1")
        self._key = _Secret(key.strip())
        self.topk = topk
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.max_concurrency = max_concurrency
        self.extra_params = dict(extra_params or {})
        self._local = threading.local()  # one requests.Session per thread

    def __repr__(self) -> str:
        return f"WebSearchEnv(base_url={self.base_url!r}, topk={self.topk}, api_key={_REDACTED!r})"

    def _redact(self, text: str) -> str:
        return text.replace(self._key.reveal(), _REDACTED)

    @property
    def _session(self) -> requests.Session:
        return thread_session(self._local)

    def search(self, queries: Sequence[str], topk: int | None = None) -> list[list[Document]]:
        """Return each query's top ``topk`` organic results (title, snippet, URL), best first.

        A blank query gets no results without a request. Raises :class:`WebSearchError` when
        the service stays unreachable or answers an error.

        Example:
            >>> [d.title for d in env.search(["capital of France"], topk=2)[0]]  # doctest: +SKIP
            ['"Paris - Wikipedia"', '"Paris | History, Map, Population ..."']
        """
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise Mem1InputError("queries must be a list of strings")
        k = self.topk if topk is None else topk
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise Mem1InputError(f"topk must be an integer >= 1, got {k!r}")
        if len(queries) <= 1:
            return [self._search_one(q, k) for q in queries]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(queries))) as pool:
            return list(pool.map(lambda q: self._search_one(q, k), queries))

    def _search_one(self, query: str, k: int) -> list[Document]:
        if not query.strip():
            return []
        payload = {**self.extra_params, "q": query, "num": max(k, 10)}
        headers = {"X-API-KEY": self._key.reveal(), "Content-Type": "application/json"}
        failure = None
        try:
            # never follow a redirect: requests would resend X-API-KEY to any host (it strips
            # only Authorization), so a redirect is an error naming where it pointed
            response = post_with_retries(
                self._session,
                self.base_url,
                payload,
                headers=headers,
                timeout=self.timeout,
                max_retries=self.max_retries,
                backoff=self.backoff,
                max_wait=self.max_wait,
                allow_redirects=False,
            )
        except RetriesExhausted as err:
            failure = f"{err.reason}, {err.attempts} attempt(s)"
        if failure is not None:  # raised outside the except block: no exception chain at all
            raise WebSearchError(
                f"web search service {self.base_url} is not reachable ({failure}; timeout {self.timeout:g} s)"
            )
        status = response.status_code
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).netloc or "an unnamed location"
            raise WebSearchError(
                f"web search service {self.base_url} redirected (HTTP {status}) to {self._redact(target)}; "
                "not following it with the API key (set base_url to the final address)"
            )
        if status != 200:
            body = self._redact(_as_text(response.text))[:200]
            if status in (401, 403):
                hint = "the API key was rejected; check SERPER_API_KEY"
            elif status == 429:
                hint = f"rate limit still hit after {self.max_retries + 1} attempt(s); slow down"
            else:
                hint = "the service answered an error"
            raise WebSearchError(f"web search: {hint} (HTTP {status}): {body}")
        try:
            data = response.json()
        except ValueError:
            data = ValueError  # raised below, outside the except block
        if data is ValueError:
            raise WebSearchError(f"web search service {self.base_url} did not answer JSON")
        organic = data.get("organic", []) if isinstance(data, dict) else None
        if not isinstance(organic, list):
            raise WebSearchError("web search: the answer has no 'organic' result list")
        return [self._document(item) for item in organic[:k] if isinstance(item, dict)]

    def _document(self, item: Mapping[str, Any]) -> Document:
        title = self._redact(_as_text(item.get("title")))
        snippet = self._redact(_as_text(item.get("snippet")))
        link = self._redact(_as_text(item.get("link")))
        text = f"{snippet} ({link})" if link else snippet
        return Document(id=link, contents=f'"{title}"\n{text}')
