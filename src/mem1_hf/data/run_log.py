"""The resumable JSONL log of a run: one finished task per line, on disk before the next starts.

``mem1 eval`` (``trajectories.jsonl``) and ``mem1 trajectories`` (``tasks.jsonl``) both append
through :class:`RunLog` and resume from :func:`load_records`: a rerun skips what the log holds.
A crash mid-write leaves a last line without its newline; :func:`load_records` drops it (and
cuts it from the file, so new records append cleanly): that task simply runs again.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tasks.jsonl")
    >>> with RunLog(path) as log:
    ...     log.append({"task_id": "a"})
    >>> with open(path, "a") as handle:
    ...     _ = handle.write('{"task_id": "b", "ro')  # a crash mid-write
    >>> load_records(path)
    [{'task_id': 'a'}]
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from types import TracebackType
from typing import IO, Any


def load_records(path: str | Path, repair: bool = True) -> list[dict[str, Any]]:
    """The records of a run log (``[]`` if it does not exist).

    A last line without its newline (a crash mid-write) is dropped and, with ``repair``, cut
    from the file so that new records append cleanly.

    Example:
        >>> load_records("/nonexistent/trajectories.jsonl")
        []
    """
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # everything up to the last full line
    if repair and len(complete) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    records = []
    for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            # only a hand edit gets here: skip the line, the task reruns and is appended again
            warnings.warn(f"{path}:{number}: not JSON, skipped", stacklevel=2)
    return records


class RunLog:
    """Append records to a run log, each synced to disk at once (a crash loses no finished task).

    Example:
        >>> with RunLog("runs/a/tasks.jsonl") as log:  # doctest: +SKIP
        ...     log.append({"task_id": "q1", "em": 1.0})
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLog:
        self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a line and sync it to disk before returning."""
        if self._handle is None:
            raise RuntimeError("RunLog.append outside its `with` block")
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
