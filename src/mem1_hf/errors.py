"""User-facing errors.

Every mistake a user can make (bad input, a missing file, an unknown option) raises
:class:`Mem1InputError` with a one-line message. The CLI prints that line and exits with
status 2 instead of showing a traceback.

Example:
    >>> from mem1_hf.errors import Mem1InputError
    >>> try:
    ...     raise Mem1InputError("max_turns must be >= 1, got 0")
    ... except ValueError as err:
    ...     print(err)
    max_turns must be >= 1, got 0
"""

from __future__ import annotations


class Mem1InputError(ValueError):
    """A user's input is wrong; the message says what and where, in one line."""
