"""Environments the MEM1 agent acts in; retrieval over a local corpus lives here.

Example:
    >>> from mem1_hf.envs import LocalRetrievalEnv
    >>> env = LocalRetrievalEnv.from_corpus("corpus.jsonl", retriever="bm25", topk=3)  # doctest: +SKIP
    >>> env.search_text(["who wrote Hamlet"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# names -> submodule, imported on first use: `mem1 --help` and the data layer (which needs only
# ``Document``) do not pay for numpy, requests and the retrievers
_EXPORTS = {
    "Document": "base",
    "SearchEnvironment": "base",
    "render_docs": "base",
    "BM25Retriever": "bm25",
    "DenseRetriever": "dense",
    "default_embedder_path": "dense",
    "LocalRetrievalEnv": "local_retrieval",
    "RemoteRetrievalEnv": "remote",
    "WebSearchEnv": "web_search",
    "WebShopEnv": "webshop",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"mem1_hf.envs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mem1_hf.envs' has no attribute {name!r}")


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
