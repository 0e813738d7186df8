"""Sparse retrieval: BM25 over a list of passages with ``bm25s``.

Tokenisation is bm25s's (lower case, ``\\w\\w+`` tokens, English stopwords removed) with the
English Snowball stemmer of PyStemmer (``stemmer="english"``, the default: it raised recall@3
from 0.891 to 0.909 on NQ-open and HotpotQA's any-of-2@3 from 0.910 to 0.926, see
docs/benchmarks.md). ``stemmer=None`` turns it off; ``"auto"`` stems only if PyStemmer is
installed. A saved index records its stemmer and is always queried with it, so indexes saved
before stemming was the default still load and search as they were built.

Only passages with a positive score are returned (as Lucene and Search-R1 do): a query none of
whose words is in the corpus gets ``[]`` rather than arbitrary passages.

Example:
    >>> from mem1_hf.retrieval.bm25 import BM25Retriever
    >>> bm25 = BM25Retriever(["Paris is in France.", "Berlin is in Germany."])
    >>> [index for index, _ in bm25.search(["capital of Germany berlin"], topk=1)[0]]
    [1]
    >>> bm25.search(["zzqqxx"], topk=3)
    [[]]
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mem1_hf.errors import Mem1InputError

_CONFIG = "bm25_config.json"
#: the stemmer of a new index (measured better than none: docs/benchmarks.md)
DEFAULT_STEMMER = "english"


def resolve_stemmer(stemmer: str | None) -> tuple[str | None, Callable[[list[str]], list[str]] | None]:
    """Resolve ``"auto"`` / ``"english"`` / ``None`` to (recorded name, stemWords function)."""
    if stemmer is None:
        return None, None
    if stemmer not in ("auto", "english"):
        raise Mem1InputError(f"stemmer must be 'auto', 'english' or None, got {stemmer!r}")
    try:
        import Stemmer  # PyStemmer
    except ImportError:
        if stemmer == "english":
            raise Mem1InputError("stemmer='english' needs PyStemmer: pip install PyStemmer") from None
        return None, None
    return "english", Stemmer.Stemmer("english").stemWords


def _top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best ``k`` (index, score) pairs; ties go to the lower index so results are stable."""
    if k < len(scores):
        candidates = np.argpartition(-scores, k - 1)[:k]
        # every index scoring exactly the k-th best competes for the last places
        kth = scores[candidates].min()
        candidates = np.union1d(candidates, np.flatnonzero(scores == kth))
    else:
        candidates = np.arange(len(scores))
    best = heapq.nsmallest(k, candidates.tolist(), key=lambda i: (-scores[i], i))
    return [(int(i), float(scores[i])) for i in best]


class BM25Retriever:
    """BM25 (bm25s, Lucene variant) over ``texts``; :meth:`search` returns ``(index, score)``.

    Args:
        texts: the passages to index (for a corpus, each document's ``contents``).
        k1, b: BM25 parameters (bm25s defaults).
        stopwords: bm25s stopword list name or a list of words; ``None`` keeps every token.
        stemmer: ``"english"`` (default, PyStemmer's Snowball), ``None`` (no stemming) or ``"auto"``
            (English if PyStemmer is installed).
        show_progress: show bm25s progress bars while tokenising and indexing.

    Example:
        >>> bm25 = BM25Retriever(["a cat sat", "a dog ran"], stemmer=None)
        >>> bm25.search(["dog"], topk=2)[0][0][0]
        1
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | list[str] | None = "en",
        stemmer: str | None = DEFAULT_STEMMER,
        show_progress: bool = False,
    ) -> None:
        import bm25s

        if isinstance(texts, str) or not texts:
            raise Mem1InputError("BM25Retriever needs a non-empty list of passages")
        self.stemmer_name, self._stem = resolve_stemmer(stemmer)
        self.stopwords = stopwords
        self.show_progress = show_progress
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index(self._tokenize(list(texts)), show_progress=show_progress)

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(
            texts,
            stopwords=self.stopwords or [],
            stemmer=self._stem,
            return_ids=False,
            show_progress=self.show_progress,
        )

    def __len__(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def search(self, queries: Sequence[str], topk: int) -> list[list[tuple[int, float]]]:
        """Return, per query, up to ``topk`` ``(passage index, BM25 score)`` pairs, best first.

        Only passages with a positive score count: a query with no indexed word gets ``[]``.
        """
        results = []
        for tokens in self._tokenize(list(queries)):
            # bm25s.get_scores silently drops unknown words but fails on an empty list
            known = [t for t in tokens if t in self._bm25.vocab_dict]
            if not known:
                results.append([])
                continue
            scores = np.asarray(self._bm25.get_scores(known))
            results.append([hit for hit in _top_k(scores, min(topk, len(self))) if hit[1] > 0])
        return results

    def save(self, directory: str | Path) -> Path:
        """Write the index and its tokenisation settings to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)
        config: dict[str, Any] = {"stopwords": self.stopwords, "stemmer": self.stemmer_name}
        (directory / _CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> BM25Retriever:
        """Load an index written by :meth:`save`.

        Example:
            >>> BM25Retriever.load("index/bm25").search(["who wrote Hamlet"])  # doctest: +SKIP
        """
        import bm25s

        directory = Path(directory)
        if not (directory / _CONFIG).is_file():
            raise Mem1InputError(f"{directory} is not a BM25 index (no {_CONFIG})")
        config = json.loads((directory / _CONFIG).read_text())
        self = cls.__new__(cls)
        self.stopwords = config["stopwords"]
        self.show_progress = False
        # a stemmed index must be queried with the same stemmer, so insist on it here
        self.stemmer_name, self._stem = resolve_stemmer(config.get("stemmer"))
        self._bm25 = bm25s.BM25.load(str(directory))
        return self
