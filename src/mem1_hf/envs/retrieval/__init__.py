"""Index backends for local retrieval: sparse BM25 (``bm25s``) and dense faiss (sentence-transformers).

Both take a list of passage texts, answer ``search(queries, k)`` with ``(index, score)`` pairs and
save to / load from a directory; :class:`~mem1_hf.envs.LocalRetrievalEnv` wraps either one.

Example:
    >>> from mem1_hf.envs.retrieval import BM25Retriever
    >>> retriever = BM25Retriever(["Paris is the capital of France.", "Berlin is in Germany."])
    >>> retriever.search(["capital of France"], 1)[0][0][0]
    0
"""

from __future__ import annotations

from mem1_hf.envs.retrieval.bm25 import BM25Retriever
from mem1_hf.envs.retrieval.dense import DenseRetriever, default_embedder_path

__all__ = ["BM25Retriever", "DenseRetriever", "default_embedder_path"]
