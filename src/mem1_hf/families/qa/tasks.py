"""Where QA tasks and their documents come from: composed data folders or sources composed on
the fly, and the one search environment over their corpus (`mem1 eval`, `mem1 train`, `mem1
trajectories`).

Example:
    >>> corpora_of(["no-such-folder"])
    []
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

Rows = dict[int, list[dict[str, Any]]]


def rows_from_data(specs: list[str], split: str) -> tuple[Rows, list[Path]]:
    """Composed rows by objective count, and the corpus files the data directories carry."""
    from mem1_hf.data.compose import load_composed

    rows: Rows = {}
    for spec in specs:
        for row in load_composed(spec, split):
            rows.setdefault(int(row["n_objectives"]), []).append(row)
    return rows, corpora_of(specs)


def corpora_of(specs: Sequence[str]) -> list[Path]:
    """The ``corpus.jsonl`` files of the local data folders among ``specs`` (a Hub id has none)."""
    from mem1_hf.data.compose import CORPUS_FILE

    paths = (Path(spec).expanduser() / CORPUS_FILE for spec in specs)
    return [path for path in paths if path.is_file()]


def rows_from_sources(settings: Any, objectives: list[int]) -> tuple[Rows, list]:
    """Compose one test split per objective count (same seed: the same held-out questions)."""
    from mem1_hf.data.compose import ComposeConfig, compose, parse_source

    sources = [parse_source(s) for s in settings.source]
    rows: Rows = {}
    corpus = None
    for n in objectives:
        config = ComposeConfig(
            objectives=n,
            seed=settings.seed,
            splits={"test": settings.test_fraction},
            limit=settings.source_limit,
        )
        result = compose(sources, config)
        rows[n] = list(result.dataset["test"])
        corpus = corpus or result.corpus
    return rows, [corpus] if corpus else []


def corpus_of(corpora: Sequence[Any]) -> Any:
    """The one corpus several data folders share: a lone corpus (a file or passages composed on
    the fly) as it is; the first file when every folder carries the same bytes (1-, 2- and
    4-objective tasks composed from the same sources); else the passages of all of them, each
    once (new ids), so every folder's tasks find their passages.

    Example:
        >>> corpus_of([Path("one_obj/corpus.jsonl")])
        PosixPath('one_obj/corpus.jsonl')
    """
    from mem1_hf.data.corpus import read_corpus
    from mem1_hf.data.documents import Document
    from mem1_hf.data.fingerprint import sha256_file

    if len(corpora) == 1 or len({sha256_file(path) for path in corpora}) == 1:
        return corpora[0]
    contents = dict.fromkeys(doc.contents for path in corpora for doc in read_corpus(path))
    return [Document(id=str(i), contents=text) for i, text in enumerate(contents)]


def retrieval_env(
    corpora: Sequence[Any],
    *,
    corpus: str | None = None,
    index: str | None = None,
    retriever: str | None = None,
    embedder: str | None = None,
) -> Any:
    """The search environment of QA tasks, one rule for `mem1 eval`, `mem1 train` and `mem1
    trajectories`: an `--index` folder, else a `--corpus` file, else the data folders' own
    corpora (:func:`corpus_of`)."""
    from mem1_hf.retrieval.local import RetrievalConfig

    config = RetrievalConfig(corpus=corpus, index=index, retriever=retriever, embedder=embedder)
    return config.build(fallback=lambda: corpus_of(corpora) if corpora else None)
