"""What makes two evaluation runs comparable: content hashes, and one writer per run folder.

A resumed run appends to the same ``trajectories.jsonl`` and ``table.md``, so everything that
changes results is recorded in ``run.json``: the settings *and* hashes of what the settings
point at (the corpus or index content, the composed tasks, WebShop's files), because a path
can name a different file tomorrow. :func:`run_lock` keeps a second process from writing into
the same folder at the same time.

Example:
    >>> sha256_json({"b": [1, 2], "a": "x"}) == sha256_json({"a": "x", "b": [1, 2]})
    True
    >>> short_hash("0123456789abcdef" * 4)
    '0123456789ab…'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mem1_hf.errors import Mem1InputError

LOCK_FILE = ".lock"


def sha256_json(value: Any) -> str:
    """SHA-256 of a JSON value in canonical form (sorted keys), e.g. composed task rows."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise Mem1InputError(f"cannot read {path}: {err.strerror}") from None
    return digest.hexdigest()


def retrieval_fingerprint(env: Any) -> dict[str, Any]:
    """The settings of a retrieval environment that change results, with its corpus hash."""
    return {
        "retriever": getattr(env, "kind", type(env).__name__),
        "embedder": "default"
        if getattr(env, "embedder_is_default", False)
        else getattr(env, "embedder", None),
        "index_type": getattr(getattr(env, "retriever", None), "index_type", None),
        "corpus_sha256": getattr(env, "fingerprint", None),
    }


def source_hashes(specs: list[str]) -> dict[str, str]:
    """``--source NAME=PATH``: each local file's SHA-256 (a Hub id stands for itself)."""
    from mem1_hf.data.compose import parse_source
    from mem1_hf.data.qa_sources import is_local_spec

    hashes = {}
    for name, spec in map(parse_source, specs):
        path = Path(spec).expanduser()
        hashes[name] = sha256_file(path) if is_local_spec(spec) and path.is_file() else f"hub:{spec}"
    return hashes


def short_hash(value: Any) -> Any:
    """A hash shortened for a message (other values unchanged)."""
    if isinstance(value, str) and len(value) >= 40 and all(c in "0123456789abcdef" for c in value):
        return value[:12] + "…"
    return value


@contextlib.contextmanager
def run_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder; a second holder gets a one-line error.

    The lock is an ``flock`` on ``OUT/.lock``, released by the OS when the process ends (also
    on SIGKILL), so a crash never leaves a stale lock. Without ``fcntl`` (Windows) no lock is
    taken.

    Example:
        >>> with run_lock("runs/qa"):  # doctest: +SKIP
        ...     run_jobs(...)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    out_dir = Path(out_dir)
    path = out_dir / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise Mem1InputError(
                f"{out_dir} is being written by another run (pid {holder}); wait for it to finish "
                "or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
