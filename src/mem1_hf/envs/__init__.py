"""Environments the MEM1 agent acts in, by their public names (each lives with what it serves).

* search environments (:class:`SearchEnvironment`), in :mod:`mem1_hf.retrieval`:
  :class:`LocalRetrievalEnv` (a corpus with a BM25 or dense index), :class:`RemoteRetrievalEnv`
  (any Search-R1 / MEM1 retrieval server, e.g. :mod:`mem1_hf.retrieval.server`) and
  :class:`WebSearchEnv` (Serper);
* :class:`WebShopEnv`, the WebShop text shop, in :mod:`mem1_hf.families.webshop`.

Library code imports from those packages; this module only gathers the names users import.

Example:
    >>> from mem1_hf.envs import LocalRetrievalEnv
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25", topk=3)  # doctest: +SKIP
    >>> env.search_text(["who wrote Hamlet"])  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.data.documents import Document, render_docs
from mem1_hf.families.webshop.env import WebShopEnv
from mem1_hf.retrieval.base import SearchEnvironment
from mem1_hf.retrieval.bm25 import BM25Retriever
from mem1_hf.retrieval.client import RemoteRetrievalEnv
from mem1_hf.retrieval.dense import DenseRetriever, default_embedder_path
from mem1_hf.retrieval.local import LocalRetrievalEnv
from mem1_hf.retrieval.web_search import WebSearchEnv

__all__ = [
    "BM25Retriever",
    "DenseRetriever",
    "Document",
    "LocalRetrievalEnv",
    "RemoteRetrievalEnv",
    "SearchEnvironment",
    "WebSearchEnv",
    "WebShopEnv",
    "default_embedder_path",
    "render_docs",
]
