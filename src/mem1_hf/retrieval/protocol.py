"""What a retrieval server and its client agree on: the port, the token variable, the bounds.

Both :mod:`mem1_hf.retrieval.server` and :mod:`mem1_hf.retrieval.client` read these, so neither
imports the other.

Example:
    >>> f"http://127.0.0.1:{DEFAULT_PORT}/retrieve"
    'http://127.0.0.1:8013/retrieve'
    >>> TOKEN_ENV
    'MEM1_RETRIEVER_TOKEN'
"""

from __future__ import annotations

#: the port of ``mem1 serve-retriever`` (and of Search-R1's retrieval server examples)
DEFAULT_PORT = 8013
#: ``mem1 serve-retriever``'s default bounds per request; the client splits larger batches
MAX_QUERIES_PER_REQUEST = 4096
MAX_DOCUMENTS_PER_REQUEST = 16384
#: the bearer token a server requires and a client sends, when set
TOKEN_ENV = "MEM1_RETRIEVER_TOKEN"
