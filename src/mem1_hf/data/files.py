"""Reading the files data come in: plain or gzip UTF-8, JSON documents and JSON lines; parquet.

Every failure is a one-line :class:`~mem1_hf.errors.Mem1InputError` naming the file (and line).

Example:
    >>> import gzip, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl.gz")
    >>> with gzip.open(path, "wt") as handle:
    ...     _ = handle.write('{"id": 1}' + chr(10) + chr(10) + '{"id": 2}' + chr(10))
    >>> list(iter_jsonl(path))
    [(1, {'id': 1}), (3, {'id': 2})]
    >>> first_line(path)
    '{"id": 1}'
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mem1_hf.errors import Mem1InputError


def open_text(path: str | Path) -> IO[str]:
    """Open a (possibly gzip-compressed, detected by magic bytes) UTF-8 text file."""
    path = Path(path)
    if path.is_dir():
        raise Mem1InputError(f"{path} is a directory, expected a file")
    if not path.is_file():
        raise Mem1InputError(f"file not found: {path}")
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line)`` for the non-blank lines of a text file."""
    try:
        with open_text(path) as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    yield lineno, line
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
        raise Mem1InputError(f"{path}: cannot read as UTF-8 text ({type(err).__name__})") from err


def parse_json_line(path: str | Path, lineno: int, line: str) -> dict[str, Any]:
    """One JSON-lines record, which must be a JSON object (errors name ``path:lineno``)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise Mem1InputError(f"{path}:{lineno}: invalid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise Mem1InputError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
    return record


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` for every non-blank line of a JSON-lines file."""
    for lineno, line in iter_lines(path):
        yield lineno, parse_json_line(path, lineno, line)


def load_json(path: str | Path) -> Any:
    """Load a whole JSON document (list or object)."""
    try:
        with open_text(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise Mem1InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
        raise Mem1InputError(f"{path}: cannot read as UTF-8 text ({type(err).__name__})") from err


def first_line(path: str | Path) -> str:
    """The first non-blank line, stripped (enough to tell most formats apart)."""
    for _, line in iter_lines(path):
        return line.strip()
    raise Mem1InputError(f"{path}: the file is empty")


def check_parquet(paths: Iterable[str | Path]) -> None:
    """Refuse a file that is not readable parquet (corrupt, truncated, another format) before
    ``datasets`` reads it: pyarrow's ``ArrowInvalid`` would otherwise surface as a traceback.

    Only the footer (schema and row groups) is read, not the data.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "train.parquet")
        >>> _ = open(path, "wb").write(b"PAR1 not really")
        >>> check_parquet([path])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mem1_hf.errors.Mem1InputError: .../train.parquet: not a readable parquet file (Parquet magic bytes not found in footer...)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        try:
            pq.read_metadata(str(path))
        except (pa.ArrowException, OSError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise Mem1InputError(f"{path}: not a readable parquet file ({first})") from err


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """Refuse an output file path that is a directory or cannot be written, before any work.

    Example:
        >>> check_output_file("/", "--out")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        mem1_hf.errors.Mem1InputError: --out / is a directory; give a file name
    """
    path = Path(path)
    if path.is_dir():
        raise Mem1InputError(f"{flag} {path} is a directory; give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # write_corpus creates missing folders
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise Mem1InputError(f"{flag} {path}: cannot write into {parent}")
    if path.exists() and not os.access(path, os.W_OK):
        raise Mem1InputError(f"{flag} {path}: the file is not writable")
    return path
