"""Environments the MEM1 agent acts in; retrieval over a local corpus lives here.

Example:
    >>> from mem1_hf.envs import LocalRetrievalEnv
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25", topk=3)  # doctest: +SKIP
    >>> env.search_text(["who wrote Hamlet"])  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.envs.base import Document, SearchEnvironment, render_docs
from mem1_hf.envs.bm25 import BM25Retriever
from mem1_hf.envs.dense import DenseRetriever, default_embedder_path
from mem1_hf.envs.local_retrieval import LocalRetrievalEnv
from mem1_hf.envs.remote import RemoteRetrievalEnv
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
