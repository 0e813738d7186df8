"""POST JSON with retries: the HTTP helper of the network environments (retrieval server, Serper).

Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff (or the
server's ``Retry-After``); the caller turns :class:`RetriesExhausted` or a final error status
into its own one-line :class:`~mem1_hf.errors.Mem1EnvironmentError`.

Example:
    >>> import requests
    >>> post_with_retries(requests.Session(), "http://127.0.0.1:9/x", {}, timeout=1, max_retries=1,
    ...                   backoff=0, max_wait=0)
    Traceback (most recent call last):
    ...
    mem1_hf.retrieval.http.RetriesExhausted: connection refused after 2 attempt(s)
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

logger = logging.getLogger(__name__)

#: answers worth another try: rate limiting and transient server-side failures
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class RetriesExhausted(Exception):
    """Raised by :func:`post_with_retries` when no attempt got an HTTP answer.

    ``reason`` is a short, secret-free phrase such as ``"connection refused"``.
    """

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} after {attempts} attempt(s)")
        self.reason = reason
        self.attempts = attempts


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(err: requests.RequestException) -> str:
    # our own words, never str(err): a requests error can carry the prepared request
    if isinstance(err, requests.Timeout):
        return "timed out"
    if isinstance(err, requests.ConnectionError):
        text = str(err).lower()
        return "connection refused" if "refused" in text else "connection failed"
    return type(err).__name__


def post_with_retries(
    session: requests.Session,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    max_retries: int,
    backoff: float,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
    allow_redirects: bool = True,
) -> requests.Response:
    """POST JSON, retrying connection errors, timeouts, 429 and 5xx with exponential backoff.

    Waits ``backoff * 2**attempt`` seconds between attempts, or the server's ``Retry-After``,
    never more than ``max_wait``. Returns the last HTTP response (which may still be an error
    status once retries run out); raises :class:`RetriesExhausted` if no attempt got one. That
    exception carries no chained ``requests`` error (whose prepared request holds the headers,
    secrets included). ``allow_redirects=False`` returns a 3xx as it is.

    Example:
        >>> r = post_with_retries(requests.Session(), "http://127.0.0.1:8013/retrieve",
        ...     {"queries": ["q"]}, timeout=5, max_retries=2, backoff=0.5, max_wait=8)  # doctest: +SKIP
    """
    attempts = max_retries + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        wait = min(max_wait, backoff * 2**attempt)
        reason = None
        try:
            response = session.post(
                url,
                json=payload,
                headers=dict(headers or {}),
                timeout=timeout,
                allow_redirects=allow_redirects,
            )
        except requests.RequestException as err:
            reason = _reason(err)
        if reason is not None:  # raised outside the except block: no __context__ to leak headers
            if last:
                raise RetriesExhausted(reason, attempts)
            logger.warning("POST %s %s; retry %d/%d in %.1f s", url, reason, attempt + 1, max_retries, wait)
        else:
            if response.status_code not in RETRY_STATUSES or last:
                return response
            hinted = _retry_after(response)
            if hinted is not None:
                wait = min(max_wait, hinted)
            logger.warning(
                "POST %s answered HTTP %d; retry %d/%d in %.1f s",
                url,
                response.status_code,
                attempt + 1,
                max_retries,
                wait,
            )
            response.close()
        sleep(wait)
    raise AssertionError("unreachable")  # the loop always returns or raises


def thread_session(local: threading.local) -> requests.Session:
    """This thread's ``requests.Session`` (sessions are not documented thread-safe)."""
    session = getattr(local, "session", None)
    if session is None:
        session = local.session = requests.Session()
    return session
