"""A Search-R1 / MEM1-compatible retrieval server over any :class:`SearchEnvironment`.

``POST /retrieve`` takes ``{"queries": [...], "topk": k, "return_scores": true}`` and answers
``{"result": [[{"document": {"id", "contents"}, "score": s}, ...], ...]}`` (without
``return_scores``: ``{"result": [[{"id", "contents"}, ...], ...]}``), exactly like Search-R1's
``retrieval_server.py``; ``GET /health`` says what is served. Each request is one batched
``env.search`` call, so training ranks on several machines share one index, and clients of
Search-R1 / MEM1 servers (or :class:`~mem1_hf.envs.RemoteRetrievalEnv`) work unchanged.

Every request is bounded (:class:`Limits`): ``topk`` at most 100, a query at most 4,096
characters, at most 4,096 queries and a 4 MiB body; a non-integer ``topk`` (``"3"``, ``true``,
``1e9``) is refused with HTTP 422, too large a request with 413. The server has no
authentication unless a bearer token is set (``MEM1_RETRIEVER_TOKEN``; clients send
``Authorization: Bearer <token>``): keep it on 127.0.0.1, or behind a proxy that
authenticates, when it listens on other interfaces.

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
import hmac
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mem1_hf.envs.base import DEFAULT_TOPK, SearchEnvironment
from mem1_hf.envs.remote import DEFAULT_PORT
from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError

if TYPE_CHECKING:  # fastapi loads only when a server is built: `mem1 --help` stays fast
    from fastapi import FastAPI

#: the bearer token a server requires and a client sends, when set
TOKEN_ENV = "MEM1_RETRIEVER_TOKEN"


@dataclass(frozen=True)
class Limits:
    """Bounds on one ``/retrieve`` request, so no client can make the server answer the corpus.

    Args:
        max_topk: the largest ``topk`` (HTTP 422 above it).
        max_query_chars: the longest query in characters (HTTP 422 above it).
        max_queries: queries per request (HTTP 413 above it).
        max_body_bytes: request body size (HTTP 413 above it, checked while reading).

    Example:
        >>> Limits().max_topk, Limits(max_topk=10).max_query_chars
        (100, 4096)
    """

    max_topk: int = 100
    max_query_chars: int = 4096
    max_queries: int = 4096
    max_body_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise Mem1InputError(f"{name} must be an integer >= 1, got {value!r}")


class RetrieveRequest(BaseModel):
    """Search-R1's request body (``topk`` omitted or 0: the server's default, as Search-R1)."""

    queries: list[str]
    # strict: "3", true and 1e9 are not integers (lax validation would accept the first two);
    # 0 (or no topk) means the server's default, as Search-R1's server does
    topk: int | None = Field(default=None, ge=0, strict=True)
    return_scores: bool = False


class BodyLimit:
    """ASGI middleware: refuse a body over ``max_bytes`` (declared or streamed) with HTTP 413.

    A streamed (chunked) body is counted while the app reads it; past the limit the app gets an
    empty end of body and whatever it answers is replaced by the 413 (FastAPI would turn an
    exception raised while reading into a 400).
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = f'{{"detail": "request body over {self.max_bytes} bytes"}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        over = False

        async def limited_receive() -> Any:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Any) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(send)

        await self.app(scope, limited_receive, guarded_send)


def create_app(
    env: SearchEnvironment,
    *,
    topk: int | None = None,
    limits: Limits | None = None,
    token: str | None = None,
) -> FastAPI:
    """A FastAPI app serving ``env`` with the Search-R1 retrieval API.

    ``topk`` is the default for requests that give none (default ``env.topk``). ``limits``
    bounds every request (:class:`Limits`). With ``token``, ``/retrieve`` requires the header
    ``Authorization: Bearer <token>`` (HTTP 401 otherwise); ``/health`` stays open.

    Example:
        >>> app = create_app(LocalRetrievalEnv.from_corpus("corpus.jsonl"), topk=3)  # doctest: +SKIP
    """
    from fastapi import FastAPI, Header, HTTPException
    from fastapi.responses import JSONResponse

    limits = limits or Limits()
    default_topk = topk if topk is not None else env.topk
    if default_topk > limits.max_topk:
        raise Mem1InputError(f"the default topk {default_topk} is over max_topk {limits.max_topk}")

    # retrievers (bm25s, faiss, a torch encoder) are not all thread-safe, and each call already
    # uses every core, so requests take turns; the batch inside a request is what scales
    lock = threading.Lock()
    app = FastAPI(title="mem1 retrieval server", description="Search-R1 / MEM1 retrieval API")
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    expected = f"Bearer {token}".encode() if token else None

    def check_token(authorization: str | None) -> None:
        if expected is not None and not hmac.compare_digest((authorization or "").encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    def health() -> dict[str, Any]:
        size = len(env) if hasattr(env, "__len__") else None
        kind = getattr(env, "kind", type(env).__name__)
        return {
            "status": "ok",
            "documents": size,
            "retriever": kind,
            "topk": default_topk,
            "limits": vars(limits),
            "auth": "bearer" if expected is not None else "none",
        }

    # a plain ``def`` runs in the threadpool, keeping the event loop free while searching
    # JSONResponse directly: skips FastAPI's per-item re-encoding of large result lists
    @app.post("/retrieve", response_model=None)
    def retrieve(request: RetrieveRequest, authorization: str | None = Header(default=None)) -> Any:
        check_token(authorization)
        n = len(request.queries)
        if n > limits.max_queries:
            raise HTTPException(413, f"at most {limits.max_queries} queries per request, got {n}")
        if not request.queries:
            return JSONResponse({"result": []})
        k = request.topk or default_topk
        if k > limits.max_topk:
            raise HTTPException(422, f"topk must be <= {limits.max_topk} on this server, got {k}")
        longest = max(len(q) for q in request.queries)
        if longest > limits.max_query_chars:
            raise HTTPException(
                422, f"a query must be at most {limits.max_query_chars} characters, got {longest}"
            )
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

    limits = Limits(
        max_topk=args.max_topk,
        max_query_chars=args.max_query_chars,
        max_queries=args.max_queries,
        max_body_bytes=args.max_body_bytes,
    )
    if not 1 <= args.topk <= limits.max_topk:
        raise Mem1InputError(f"--topk must be >= 1 and <= --max-topk ({limits.max_topk}), got {args.topk}")
    if not 0 <= args.port <= 65535:
        raise Mem1InputError(f"--port must be in 0..65535, got {args.port}")
    _check_port_free(args.host, args.port)
    env = LocalRetrievalEnv.load(args.index, embedder=args.embedder, retriever=args.retriever)
    env.topk = args.topk
    token = os.environ.get(TOKEN_ENV) or None
    print(
        f"serving {len(env)} passages ({env.kind}) from {args.index} on http://{args.host}:{args.port} "
        f"(POST /retrieve, GET /health); {'bearer token required' if token else 'no authentication'}",
        flush=True,
    )
    if not token and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: anyone who can reach {args.host}:{args.port} can query this index; set {TOKEN_ENV} "
            "or put an authenticating proxy in front",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(env, limits=limits, token=token)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


def register_cli(subparsers: Any) -> None:
    """Add ``mem1 serve-retriever --index DIR [--host H] [--port P] [--topk K] [limits]``.

    Example:
        >>> parser = argparse.ArgumentParser(); register_cli(parser.add_subparsers())
        >>> args = parser.parse_args(["serve-retriever", "--index", "idx"]); args.port, args.max_topk
        (8013, 100)
    """
    defaults = Limits()
    serve = subparsers.add_parser(
        "serve-retriever",
        help="serve an index over HTTP with the Search-R1/MEM1 retrieval API",
        description="Serve an index with the Search-R1/MEM1 retrieval API (POST /retrieve, GET /health). "
        "Each request is bounded: topk <= --max-topk, queries <= --max-query-chars characters, "
        "<= --max-queries queries, body <= --max-body-bytes; a non-integer topk gets HTTP 422. "
        f"No authentication unless {TOKEN_ENV} is set (then clients send 'Authorization: Bearer "
        "<token>'): keep the server on 127.0.0.1, or behind an authenticating proxy, with --host 0.0.0.0.",
    )
    serve.add_argument("--index", required=True, help="index directory from `mem1 index`")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all; see above)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--topk", type=int, default=DEFAULT_TOPK, help="documents per query when a request gives none"
    )
    serve.add_argument(
        "--max-topk",
        type=int,
        default=defaults.max_topk,
        help="largest topk a request may ask (default %(default)s)",
    )
    serve.add_argument(
        "--max-query-chars",
        type=int,
        default=defaults.max_query_chars,
        help="longest query in characters (default %(default)s)",
    )
    serve.add_argument(
        "--max-queries",
        type=int,
        default=defaults.max_queries,
        help="queries per request (default %(default)s)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=defaults.max_body_bytes,
        help="request body size in bytes (default %(default)s = 4 MiB)",
    )
    serve.add_argument(
        "--retriever", choices=("bm25", "dense"), default=None, help="must match the index (checked)"
    )
    serve.add_argument("--embedder", default=None, help="dense only: the saved embedder's local copy")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(func=_cmd_serve)
