"""A Search-R1 / MEM1-compatible retrieval server over any :class:`SearchEnvironment`.

``POST /retrieve`` takes ``{"queries": [...], "topk": k, "return_scores": true}`` and answers
``{"result": [[{"document": {"id", "contents"}, "score": s}, ...], ...]}`` (without
``return_scores``: ``{"result": [[{"id", "contents"}, ...], ...]}``), exactly like Search-R1's
``retrieval_server.py``; ``GET /health`` says what is served. Each request is one batched
``env.search`` call, so training ranks on several machines share one index, and clients of
Search-R1 / MEM1 servers (or :class:`~mem1_hf.envs.RemoteRetrievalEnv`) work unchanged.

Example:
    $ mem1 serve-retriever --index nq-index --port 8013
    $ curl -s localhost:8013/retrieve -H 'content-type: application/json' \\
        -d '{"queries": ["who wrote Hamlet"], "topk": 3, "return_scores": true}'

    >>> from mem1_hf.envs.retrieval_server import create_app  # doctest: +SKIP
    >>> app = create_app(LocalRetrievalEnv.load("nq-index"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8013)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import socket
import threading
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mem1_hf.envs.base import DEFAULT_TOPK, SearchEnvironment
from mem1_hf.envs.remote import DEFAULT_PORT
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError


class RetrieveRequest(BaseModel):
    """Search-R1's request body (``topk`` omitted: the server's default)."""

    queries: list[str]
    topk: int | None = Field(default=None, ge=1)
    return_scores: bool = False


def create_app(env: SearchEnvironment, *, topk: int | None = None, max_queries: int = 4096) -> FastAPI:
    """A FastAPI app serving ``env`` with the Search-R1 retrieval API.

    ``topk`` is the default for requests that give none (default ``env.topk``); a request with
    more than ``max_queries`` queries is refused (HTTP 413) instead of stalling the server.

    Example:
        >>> app = create_app(LocalRetrievalEnv.from_corpus("corpus.jsonl"), topk=3)  # doctest: +SKIP
    """
    default_topk = topk if topk is not None else env.topk
    # retrievers (bm25s, faiss, a torch encoder) are not all thread-safe, and each call already
    # uses every core, so requests take turns; the batch inside a request is what scales
    lock = threading.Lock()
    app = FastAPI(title="mem1 retrieval server", description="Search-R1 / MEM1 retrieval API")

    @app.get("/health")
    def health() -> dict[str, Any]:
        size = len(env) if hasattr(env, "__len__") else None
        kind = getattr(env, "kind", type(env).__name__)
        return {"status": "ok", "documents": size, "retriever": kind, "topk": default_topk}

    # a plain ``def`` runs in the threadpool, keeping the event loop free while searching
    # JSONResponse directly: skips FastAPI's per-item re-encoding of large result lists
    @app.post("/retrieve", response_model=None)
    def retrieve(request: RetrieveRequest) -> JSONResponse:
        if len(request.queries) > max_queries:
            raise HTTPException(413, f"at most {max_queries} queries per request, got {len(request.queries)}")
        if not request.queries:
            return JSONResponse({"result": []})
        k = request.topk or default_topk
        try:
            with lock:
                hits = env.search(request.queries, k)
        except Mem1InputError as err:  # the request is wrong
            raise HTTPException(400, str(err)) from None
        except Mem1EnvironmentError as err:  # the backend behind the server failed
            raise HTTPException(502, str(err)) from None
        if request.return_scores:
            rows = [
                [{"document": {"id": d.id, "contents": d.contents}, "score": _score(d.score)} for d in docs]
                for docs in hits
            ]
        else:
            rows = [[{"id": d.id, "contents": d.contents} for d in docs] for docs in hits]
        return JSONResponse({"result": rows})

    return app


def _score(score: float | None) -> float | None:
    return None if score is None else float(score)  # numpy scalars are not JSON


def _check_port_free(host: str, port: int) -> None:
    # uvicorn logs a bind failure and calls sys.exit; say it in one line before loading anything
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError as err:
            raise Mem1InputError(
                f"cannot listen on {host}:{port} ({err.strerror}); choose another --port"
            ) from None


def _cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from mem1_hf.envs.local_retrieval import LocalRetrievalEnv

    if args.topk < 1:
        raise Mem1InputError(f"--topk must be >= 1, got {args.topk}")
    if not 0 <= args.port <= 65535:
        raise Mem1InputError(f"--port must be in 0..65535, got {args.port}")
    _check_port_free(args.host, args.port)
    env = LocalRetrievalEnv.load(args.index, embedder=args.embedder)
    env.topk = args.topk
    print(
        f"serving {len(env)} passages ({env.kind}) from {args.index} on http://{args.host}:{args.port} "
        f"(POST /retrieve, GET /health)",
        flush=True,
    )
    uvicorn.run(create_app(env), host=args.host, port=args.port, log_level=args.log_level)


def register_cli(subparsers: Any) -> None:
    """Add ``mem1 serve-retriever --index DIR [--host H] [--port P] [--topk K]``.

    Example:
        >>> parser = argparse.ArgumentParser(); register_cli(parser.add_subparsers())
        >>> args = parser.parse_args(["serve-retriever", "--index", "idx"]); args.port
        8013
    """
    serve = subparsers.add_parser(
        "serve-retriever", help="serve an index over HTTP with the Search-R1/MEM1 retrieval API"
    )
    serve.add_argument("--index", required=True, help="index directory from `mem1 index`")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--topk", type=int, default=DEFAULT_TOPK, help="documents per query when a request gives none"
    )
    serve.add_argument("--embedder", default=None, help="dense only: override the saved embedder")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(func=_cmd_serve)
