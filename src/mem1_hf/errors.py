"""The two kinds of errors a user sees: their own mistakes, and failures of the world outside.

* :class:`Mem1InputError` — the user's input is wrong (bad argument, missing file, unknown
  option). The CLI prints its one-line message and exits with status 2; the retrieval server
  answers HTTP 400.
* :class:`Mem1EnvironmentError` — an external service failed (a retrieval server or the web
  search API is unreachable or answered an error). The CLI prints one line and exits with
  status 1; the retrieval server answers HTTP 502.

Neither is a traceback for the user.

Example:
    >>> from mem1_hf.errors import Mem1InputError
    >>> try:
    ...     raise Mem1InputError("max_turns must be >= 1, got 0")
    ... except ValueError as err:
    ...     print(err)
    max_turns must be >= 1, got 0
    >>> issubclass(Mem1EnvironmentError, Mem1InputError)
    False
"""

from __future__ import annotations


class Mem1InputError(ValueError):
    """A user's input is wrong; the message says what and where, in one line."""


class Mem1EnvironmentError(RuntimeError):
    """An external service (retrieval server, web search) failed; the message says which and why."""
