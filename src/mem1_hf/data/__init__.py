"""Data for MEM1 agents: retrieval corpora (read, validate, write, build from QA datasets).

Example:
    >>> from mem1_hf.data import build_corpus, write_corpus
    >>> write_corpus(build_corpus("hotpotqa_dev_500.ircot.jsonl"), "corpus.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

from mem1_hf.data.corpus import (
    FORMATS,
    build_corpus,
    corpus_from_hotpotqa,
    corpus_from_nq_oracle,
    dedup_documents,
    detect_format,
    format_contents,
    read_corpus,
    write_corpus,
)

__all__ = [
    "FORMATS",
    "build_corpus",
    "corpus_from_hotpotqa",
    "corpus_from_nq_oracle",
    "dedup_documents",
    "detect_format",
    "format_contents",
    "read_corpus",
    "write_corpus",
]
