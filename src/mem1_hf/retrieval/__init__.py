"""Retrieval: every search environment of the QA family and what serves or backs it.

* :mod:`~mem1_hf.retrieval.base` — :class:`SearchEnvironment`, the one interface the loop calls;
* :mod:`~mem1_hf.retrieval.bm25`, :mod:`~mem1_hf.retrieval.dense` — index backends: sparse BM25
  (``bm25s``) and dense faiss (sentence-transformers), each answering ``search(queries, k)`` with
  ``(index, score)`` pairs and saving to / loading from a directory;
* :mod:`~mem1_hf.retrieval.local` — :class:`LocalRetrievalEnv` (a corpus with either backend) and
  :class:`RetrievalConfig`, the one place that decides "corpus or index";
* :mod:`~mem1_hf.retrieval.client` / :mod:`~mem1_hf.retrieval.server` — a Search-R1 / MEM1
  retrieval server and its client, agreeing through :mod:`~mem1_hf.retrieval.protocol`;
* :mod:`~mem1_hf.retrieval.web_search` — :class:`WebSearchEnv` (Serper); HTTP retries for both
  remote environments live in :mod:`~mem1_hf.retrieval.http`.

Example:
    >>> from mem1_hf.retrieval import BM25Retriever
    >>> retriever = BM25Retriever(["Paris is the capital of France.", "Berlin is in Germany."])
    >>> retriever.search(["capital of France"], 1)[0][0][0]
    0
"""

from __future__ import annotations

from mem1_hf.retrieval.base import FunctionSearchEnv, SearchEnvironment
from mem1_hf.retrieval.bm25 import BM25Retriever
from mem1_hf.retrieval.client import RemoteRetrievalEnv, RetrievalServerError
from mem1_hf.retrieval.dense import DenseRetriever, default_embedder_path
from mem1_hf.retrieval.local import LocalRetrievalEnv, RetrievalConfig
from mem1_hf.retrieval.web_search import WebSearchEnv

__all__ = [
    "BM25Retriever",
    "DenseRetriever",
    "FunctionSearchEnv",
    "LocalRetrievalEnv",
    "RemoteRetrievalEnv",
    "RetrievalConfig",
    "RetrievalServerError",
    "SearchEnvironment",
    "WebSearchEnv",
    "default_embedder_path",
]
