"""Local retrieval environment: a corpus on disk searched with BM25 or a dense index.

This is MEM1's "internal RAG" setting without a retrieval server: the agent's ``<search>``
queries go straight to an in-process retriever over a Search-R1 / FlashRAG corpus JSONL (or
any file :func:`~mem1_hf.data.corpus.build_corpus` understands). An index directory holds the
corpus, the index and a manifest, so a dense index is built once and reloaded.

Example:
    >>> from mem1_hf.retrieval import LocalRetrievalEnv
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25")  # doctest: +SKIP
    >>> print(env.search_text(["who wrote Hamlet"])[0])  # doctest: +SKIP
    Doc 1(Title: "Hamlet") The Tragedy of Hamlet, Prince of Denmark, ... by William Shakespeare ...
    >>> env.save("hamlet-index")  # doctest: +SKIP
    >>> env = LocalRetrievalEnv.load("hamlet-index")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mem1_hf.data.corpus import build_corpus, read_corpus, write_corpus
from mem1_hf.data.documents import Document
from mem1_hf.errors import Mem1InputError
from mem1_hf.retrieval.base import DEFAULT_TOPK, SearchEnvironment
from mem1_hf.retrieval.bm25 import DEFAULT_STEMMER, BM25Retriever, resolve_stemmer
from mem1_hf.retrieval.dense import DenseRetriever, default_embedder_path

RETRIEVERS = ("bm25", "dense")
#: what a corpus is indexed with when no retriever is named
DEFAULT_RETRIEVER = "bm25"
MANIFEST = "mem1_index.json"
_FORMAT = "mem1-hf-local-index"
_CORPUS = "corpus.jsonl"
_REQUIRED = ("retriever", "topk", "corpus_size", "corpus_sha256")
_REQUIRED_DENSE = ("embedder", "embedder_is_default")


def _check_topk(topk: Any) -> int:
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise Mem1InputError(f"topk must be an integer >= 1, got {topk!r}")
    return topk


def _check_docs(corpus: Any) -> list[Document]:
    """A list of non-empty :class:`Document` objects, or one clear error."""
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Sequence):
        raise Mem1InputError(f"corpus must be a file path or a list of Document, got {type(corpus).__name__}")
    docs = list(corpus)
    if not docs:
        raise Mem1InputError("the corpus is empty")
    for number, doc in enumerate(docs, start=1):
        if not isinstance(doc, Document):
            raise Mem1InputError(
                f"corpus item {number} is a {type(doc).__name__}, not a Document; "
                'wrap texts as Document(id="0", contents=\'"Title"\\ntext\')'
            )
        if not isinstance(doc.contents, str) or not doc.contents.strip():
            raise Mem1InputError(f"corpus item {number} (id {doc.id!r}) has empty contents")
    return docs


def corpus_fingerprint(docs: Sequence[Document]) -> str:
    """SHA-256 of the ids and contents, to tell whether a saved index matches a corpus."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(doc.id.encode() + b"\0" + doc.contents.encode() + b"\0")
    return digest.hexdigest()


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of an index directory, or None when there is none."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Mem1InputError(f"{path}: not a valid index manifest ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise Mem1InputError(f"{path}: not a mem1-hf index manifest")
    kind = manifest.get("retriever")
    if kind not in RETRIEVERS:
        raise Mem1InputError(
            f"{path}: unknown retriever {kind!r} (this mem1-hf reads {', '.join(RETRIEVERS)}); "
            "rebuild the index with `mem1 index`, or use the mem1-hf version that wrote it"
        )
    required = _REQUIRED + (_REQUIRED_DENSE if kind == "dense" else ())
    missing = [key for key in required if key not in manifest]
    if missing:
        raise Mem1InputError(
            f"{path}: the manifest lacks {', '.join(missing)}; rebuild the index with `mem1 index`"
        )
    return manifest


def _same_model(given: str, saved: str) -> bool:
    """Whether ``given`` names the saved embedder: the same id/path, or a local copy of it."""
    return given == saved or Path(given.rstrip("/")).name == Path(saved.rstrip("/")).name


def _check_embedder(directory: Path, manifest: dict[str, Any], embedder: str | None) -> None:
    """Refuse an ``embedder`` override that would embed queries in another space than the index."""
    if embedder is None:
        return
    if manifest["retriever"] != "dense":
        raise Mem1InputError(
            f"{directory} is a {manifest['retriever']} index; --embedder applies only to dense"
        )
    if manifest["embedder_is_default"]:
        same = Path(embedder).resolve() == Path(default_embedder_path()).resolve()
        saved = "the default all-MiniLM-L6-v2"
    else:
        same = _same_model(embedder, str(manifest["embedder"]))
        saved = repr(manifest["embedder"])
    if not same:
        raise Mem1InputError(
            f"{directory} was built with embedder {saved}; embedder {embedder!r} would search another "
            "embedding space (give the same model or a local copy of it, or rebuild with `mem1 index`)"
        )


@dataclass
class RetrievalConfig:
    """Which local corpus or index to search, and how (the CLIs' retrieval flags).

    Example:
        >>> RetrievalConfig(corpus="corpus.jsonl").build()  # doctest: +SKIP
    """

    corpus: str | None = field(default=None, metadata={"help": "corpus JSONL to index on the fly"})
    index: str | None = field(default=None, metadata={"help": "index directory from `mem1 index`"})
    retriever: str | None = field(
        default=None,
        metadata={
            "help": "sparse BM25 (default) or dense faiss; with --index it must match",
            "choices": RETRIEVERS,
        },
    )
    embedder: str | None = field(
        default=None, metadata={"help": "dense only: sentence-transformers path or Hub id"}
    )

    def build(self, fallback: Callable[[], Any] | None = None) -> LocalRetrievalEnv:
        """Load ``index`` or index ``corpus``: at most one of them; with neither, the corpus
        ``fallback()`` finds in the data (if any). The one rule of every command that searches."""
        if self.corpus and self.index:
            raise Mem1InputError("give --corpus C.jsonl or --index DIR, not both")
        if self.index:
            return LocalRetrievalEnv.load(self.index, embedder=self.embedder, retriever=self.retriever)
        corpus = self.corpus or (fallback() if fallback else None)
        if not corpus:
            raise Mem1InputError(
                "give the documents with --corpus C.jsonl or --index DIR"
                + ("" if fallback is None else " (the data carry no corpus.jsonl)")
            )
        return LocalRetrievalEnv.from_corpus(corpus, retriever=self.retriever, embedder=self.embedder)


class LocalRetrievalEnv(SearchEnvironment):
    """Search a local corpus; every result is a :class:`Document` carrying its score.

    Build one with :meth:`from_corpus`, reload a saved one with :meth:`load`.

    Example:
        >>> env = LocalRetrievalEnv.from_corpus(docs, retriever="dense", topk=3)  # doctest: +SKIP
        >>> env.search(["capital of France"])[0][0].score  # doctest: +SKIP
        0.62
    """

    def __init__(
        self,
        docs: Sequence[Document],
        retriever: BM25Retriever | DenseRetriever,
        *,
        topk: int = DEFAULT_TOPK,
        embedder: str | None = None,
        embedder_is_default: bool = False,
    ) -> None:
        if len(retriever) != len(docs):
            raise Mem1InputError(f"the index holds {len(retriever)} passages but the corpus {len(docs)}")
        self.docs = list(docs)
        self.retriever = retriever
        self.kind = "bm25" if isinstance(retriever, BM25Retriever) else "dense"
        self.topk = _check_topk(topk)
        self.embedder = embedder
        self.embedder_is_default = embedder_is_default
        self.fingerprint = corpus_fingerprint(self.docs)

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def from_corpus(
        cls,
        corpus: str | Path | Sequence[Document],
        retriever: str | None = None,
        embedder: str | None = None,
        topk: int = DEFAULT_TOPK,
        index_dir: str | Path | None = None,
        **retriever_kwargs: Any,
    ) -> LocalRetrievalEnv:
        """Index a corpus (a file path or a list of documents) with ``"bm25"`` or ``"dense"``.

        ``embedder`` (dense only) is a sentence-transformers Hub id or path, default
        :func:`default_embedder_path`. With ``index_dir``, an index saved there for the same
        corpus, retriever and embedder is reloaded instead of rebuilt; otherwise the new index
        is saved there. ``retriever_kwargs`` go to :class:`BM25Retriever` /
        :class:`DenseRetriever` (e.g. ``index_type="hnsw"``, ``show_progress=True``).

        Example:
            >>> env = LocalRetrievalEnv.from_corpus("wiki.jsonl", "dense", index_dir="idx")  # doctest: +SKIP
        """
        retriever = retriever or DEFAULT_RETRIEVER
        if retriever not in RETRIEVERS:
            raise Mem1InputError(f"unknown retriever {retriever!r}; choose one of: {', '.join(RETRIEVERS)}")
        if embedder is not None and retriever != "dense":
            raise Mem1InputError("embedder only applies to retriever='dense'")
        topk = _check_topk(topk)
        docs = build_corpus(corpus) if isinstance(corpus, (str, Path)) else _check_docs(corpus)
        if index_dir is not None:
            cached = cls._cached(Path(index_dir), docs, retriever, embedder, retriever_kwargs)
            if cached is not None:
                cached.topk = topk
                return cached
        env = cls._build(docs, retriever, embedder, topk, retriever_kwargs)
        if index_dir is not None:
            env.save(index_dir)
        return env

    @classmethod
    def _build(
        cls, docs: list[Document], kind: str, embedder: str | None, topk: int, kwargs: dict[str, Any]
    ) -> LocalRetrievalEnv:
        texts = [doc.contents for doc in docs]
        if kind == "bm25":
            return cls(docs, BM25Retriever(texts, **kwargs), topk=topk)
        model = embedder if embedder is not None else default_embedder_path()
        dense = DenseRetriever(texts, model, **kwargs)
        return cls(docs, dense, topk=topk, embedder=model, embedder_is_default=embedder is None)

    @classmethod
    def _cached(
        cls,
        directory: Path,
        docs: list[Document],
        kind: str,
        embedder: str | None,
        kwargs: dict[str, Any],
    ) -> LocalRetrievalEnv | None:
        """Load the index in ``directory`` if it was built from the same inputs."""
        manifest = _read_manifest(directory)
        if manifest is None:
            return None
        same_embedder = kind == "bm25" or (
            manifest["embedder_is_default"] if embedder is None else manifest["embedder"] == embedder
        )
        same = (
            manifest["retriever"] == kind
            and same_embedder
            and manifest["corpus_sha256"] == corpus_fingerprint(docs)
            and manifest.get("index_type") == kwargs.get("index_type", "flat" if kind == "dense" else None)
        )
        if not same:
            return None
        env = cls.load(directory, embedder=embedder)
        if kind == "bm25":  # an index stemmed otherwise (e.g. saved before stemming was the default)
            wanted = resolve_stemmer(kwargs.get("stemmer", DEFAULT_STEMMER))[0]
            if env.retriever.stemmer_name != wanted:
                return None
        return env

    def search(self, queries: Sequence[str], topk: int | None = None) -> list[list[Document]]:
        """Return each query's ``topk`` (default ``self.topk``) documents, best first, with scores.

        Example:
            >>> [d.title for d in env.search(["Eiffel tower"], topk=2)[0]]  # doctest: +SKIP
            ['"Eiffel Tower"', '"Gustave Eiffel"']
        """
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise Mem1InputError("queries must be a list of strings")
        k = self.topk if topk is None else _check_topk(topk)
        if not queries:
            return []
        hits = self.retriever.search(list(queries), k)
        return [
            [Document(id=self.docs[i].id, contents=self.docs[i].contents, score=score) for i, score in row]
            for row in hits
        ]

    def save(self, directory: str | Path) -> Path:
        """Write ``corpus.jsonl``, the index (``bm25/`` or ``dense/``) and ``mem1_index.json``."""
        directory = Path(directory)
        if directory.is_file() or (
            directory.is_dir() and any(directory.iterdir()) and _read_manifest(directory) is None
        ):
            raise Mem1InputError(f"{directory} exists and is not a mem1 index directory; choose another")
        directory.mkdir(parents=True, exist_ok=True)
        # the manifest goes last: an interrupted save leaves no loadable (half) index behind
        (directory / MANIFEST).unlink(missing_ok=True)
        for kind in RETRIEVERS:
            shutil.rmtree(directory / kind, ignore_errors=True)
        write_corpus(self.docs, directory / _CORPUS)
        self.retriever.save(directory / self.kind)
        (directory / MANIFEST).write_text(json.dumps(self._manifest(), indent=2) + "\n")
        return directory

    def _manifest(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": 1,
            "retriever": self.kind,
            "embedder": self.embedder,
            "embedder_is_default": self.embedder_is_default,
            "index_type": getattr(self.retriever, "index_type", None),
            "topk": self.topk,
            "corpus_size": len(self.docs),
            "corpus_sha256": self.fingerprint,
        }

    @classmethod
    def load(
        cls,
        directory: str | Path,
        embedder: str | None = None,
        use_gpu: bool | None = None,
        retriever: str | None = None,
    ) -> LocalRetrievalEnv:
        """Reload an index directory written by :meth:`save`.

        The corpus must still hash to what the manifest recorded (an edited ``corpus.jsonl``
        would return the wrong passages). ``retriever``, when given, must be the index's kind;
        ``embedder`` (dense only) may name a local copy of the saved embedder, never another model.

        Example:
            >>> env = LocalRetrievalEnv.load("hamlet-index")  # doctest: +SKIP
        """
        directory = Path(directory)
        manifest = _read_manifest(directory) if directory.is_dir() else None
        if manifest is None:
            raise Mem1InputError(
                f"{directory} is not a mem1 index directory (no {MANIFEST}); "
                "build one with `mem1 index` or LocalRetrievalEnv.from_corpus(..., index_dir=...)"
            )
        kind = manifest["retriever"]
        if retriever is not None and retriever != kind:
            raise Mem1InputError(
                f"{directory} is a {kind} index, not {retriever}; drop --retriever or rebuild"
            )
        _check_embedder(directory, manifest, embedder)
        docs = read_corpus(directory / _CORPUS)
        if len(docs) != manifest["corpus_size"]:
            raise Mem1InputError(
                f"{directory}: {_CORPUS} has {len(docs)} passages, the manifest says {manifest['corpus_size']}"
            )
        if corpus_fingerprint(docs) != manifest["corpus_sha256"]:
            raise Mem1InputError(
                f"{directory}: {_CORPUS} was changed after the index was built (its hash differs from the "
                "manifest's), so results would point at the wrong passages; rebuild with `mem1 index`"
            )
        if kind == "bm25":
            return cls(docs, BM25Retriever.load(directory / kind), topk=manifest["topk"])
        # a default embedder is looked up again: its site-packages path differs between machines
        model = embedder or (
            default_embedder_path() if manifest["embedder_is_default"] else manifest["embedder"]
        )
        dense = DenseRetriever.load(directory / kind, model, use_gpu=use_gpu)
        return cls(
            docs,
            dense,
            topk=manifest["topk"],
            embedder=model,
            embedder_is_default=manifest["embedder_is_default"],
        )
