"""Environments the MEM1 agent acts in.

* search environments (:class:`SearchEnvironment`): :class:`LocalRetrievalEnv` (a corpus with
  a BM25 or dense index from :mod:`mem1_hf.envs.retrieval`), :class:`RemoteRetrievalEnv` (any
  Search-R1 / MEM1 retrieval server, e.g. :mod:`mem1_hf.envs.retrieval_server`) and
  :class:`WebSearchEnv` (Serper); their HTTP retries live in :mod:`mem1_hf.envs.http`;
* :class:`WebShopEnv` (:mod:`mem1_hf.envs.webshop`), the WebShop text shop.

Example:
    >>> from mem1_hf.envs import LocalRetrievalEnv
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25", topk=3)  # doctest: +SKIP
    >>> env.search_text(["who wrote Hamlet"])  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.data.documents import Document, render_docs
from mem1_hf.envs.base import SearchEnvironment
from mem1_hf.envs.local_retrieval import LocalRetrievalEnv
from mem1_hf.envs.remote import RemoteRetrievalEnv
from mem1_hf.envs.retrieval import BM25Retriever, DenseRetriever, default_embedder_path
from mem1_hf.envs.web_search import WebSearchEnv
from mem1_hf.envs.webshop import WebShopEnv

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
