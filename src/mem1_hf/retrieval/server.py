"""A Search-R1 / MEM1-compatible retrieval server over any :class:`SearchEnvironment`.

``POST /retrieve`` takes ``{"queries": [...], "topk": k, "return_scores": true}`` and answers
``{"result": [[{"document": {"id", "contents"}, "score": s}, ...], ...]}`` (without
``return_scores``: ``{"result": [[{"id", "contents"}, ...], ...]}``), exactly like Search-R1's
``retrieval_server.py``; ``GET /health`` says what is served. Each request is one batched
``env.search`` call, so training ranks on several machines share one index, and clients of
Search-R1 / MEM1 servers (or :class:`~mem1_hf.retrieval.RemoteRetrievalEnv`) work unchanged.

Every request is bounded (:class:`Limits`): ``topk`` at most 100, a query at most 4,096
characters, at most 4,096 queries, 16,384 documents (queries × topk), an answer of about 32 MiB
and a 4 MiB body; a non-integer ``topk`` (``"3"``, ``true``, ``1e9``, ``NaN``) is refused with
HTTP 422, too large a request with 413. A client has 5 s to send its headers and 5 s more for its
body (HTTP 408 otherwise), and at most 128 connections are served at once (HTTP 503 beyond).
The server has no authentication unless a bearer token is set (``MEM1_RETRIEVER_TOKEN``;
clients send ``Authorization: Bearer <token>``), checked before the body is read: keep it on
127.0.0.1, or behind a proxy that authenticates, when it listens on other interfaces.

Example:
    $ mem1 serve-retriever --index nq-index --port 8013
    $ curl -s localhost:8013/retrieve -H 'content-type: application/json' \\
        -d '{"queries": ["who wrote Hamlet"], "topk": 3, "return_scores": true}'

    >>> from mem1_hf.retrieval.server import create_app  # doctest: +SKIP
    >>> app = create_app(LocalRetrievalEnv.load("nq-index"))  # doctest: +SKIP
    >>> uvicorn.Server(server_config(app, "127.0.0.1", 8013)).run()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import math
import os
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mem1_hf.errors import Mem1EnvironmentError, Mem1InputError
from mem1_hf.retrieval.base import DEFAULT_TOPK, SearchEnvironment
from mem1_hf.retrieval.protocol import (
    DEFAULT_PORT,
    MAX_DOCUMENTS_PER_REQUEST,
    MAX_QUERIES_PER_REQUEST,
    TOKEN_ENV,
)

if TYPE_CHECKING:  # fastapi loads only when a server is built: `mem1 --help` stays fast
    import uvicorn
    from fastapi import FastAPI


@dataclass(frozen=True)
class Limits:
    """Bounds on one ``/retrieve`` request, so no client can make the server answer the corpus.

    Args:
        max_topk: the largest ``topk`` (HTTP 422 above it).
        max_query_chars: the longest query in characters (HTTP 422 above it).
        max_queries: queries per request (HTTP 413 above it).
        max_body_bytes: request body size (HTTP 413 above it, checked while reading).
        max_documents: documents per answer, queries × topk (HTTP 413 above it, checked before
            searching): what one small request can make the server build and send.
        max_response_bytes: the answer's size, estimated from the documents found before it is
            encoded (HTTP 413 above it): bounds corpora with long passages too.
        read_timeout: seconds a client has to send its request headers (counted from its
            connection, or from the end of its previous answer), and as many again for the body
            (HTTP 408 and the connection closed otherwise).
        max_connections: connections served at once; further requests get HTTP 503 (uvicorn's
            ``limit_concurrency``; applies when the server runs with :func:`server_config`).

    Example:
        >>> Limits().max_topk, Limits(max_topk=10).max_query_chars, Limits().max_documents
        (100, 4096, 16384)
    """

    max_topk: int = 100
    max_query_chars: int = 4096
    max_queries: int = MAX_QUERIES_PER_REQUEST
    max_body_bytes: int = 4 * 1024 * 1024
    max_documents: int = MAX_DOCUMENTS_PER_REQUEST
    max_response_bytes: int = 32 * 1024 * 1024
    read_timeout: float = 5.0
    max_connections: int = 128

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name == "read_timeout":
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or value <= 0:
                    raise Mem1InputError(f"read_timeout must be a number of seconds > 0, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise Mem1InputError(f"{name} must be an integer >= 1, got {value!r}")


class RetrieveRequest(BaseModel):
    """Search-R1's request body (``topk`` omitted or 0: the server's default, as Search-R1)."""

    queries: list[str]
    # strict: "3", true and 1e9 are not integers (lax validation would accept the first two);
    # 0 (or no topk) means the server's default, as Search-R1's server does
    topk: int | None = Field(default=None, ge=0, strict=True)
    return_scores: bool = False


async def _respond(send: Any, status: int, detail: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """One JSON error answer that closes the connection (the body may be unread)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: the bearer token first, then the body's size and read time.

    Authentication comes before anything reads the body, so an unauthenticated client gets 401
    whatever it sends (and the server reads none of it). A body over ``max_bytes`` (declared or
    streamed) gets 413; one not fully received ``read_timeout`` seconds after its headers gets
    408 (a client sending a byte a second holds nothing for long). Past either limit the app gets
    an empty end of body and whatever it answers is replaced (FastAPI would turn an exception
    raised while reading into a 400).
    """

    def __init__(
        self,
        app: Any,
        max_bytes: int,
        read_timeout: float = 5.0,
        token: str | None = None,
        open_paths: tuple[str, ...] = ("/health",),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.expected = f"Bearer {token}".encode() if token else None
        self.open_paths = open_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None and scope.get("path") not in self.open_paths:
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                await _respond(send, 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _respond(send, 413, f"request body over {self.max_bytes} bytes")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        received = 0
        body_done = False
        refusal: tuple[int, str] | None = None

        async def guarded_receive() -> Any:
            nonlocal received, body_done, refusal
            if refusal is not None:
                return {"type": "http.disconnect"}
            if body_done:  # later reads only wait for a disconnect: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                refusal = (408, f"request body not received within {self.read_timeout:g} s")
                return {"type": "http.request", "body": b"", "more_body": False}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    refusal = (413, f"request body over {self.max_bytes} bytes")
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Any) -> None:
            if refusal is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await _respond(send, *refusal)

        await self.app(scope, guarded_receive, guarded_send)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as strings: a 422 echoing ``NaN`` must still be JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def create_app(
    env: SearchEnvironment,
    *,
    topk: int | None = None,
    limits: Limits | None = None,
    token: str | None = None,
) -> FastAPI:
    """A FastAPI app serving ``env`` with the Search-R1 retrieval API.

    ``topk`` is the default for requests that give none (default ``env.topk``). ``limits``
    bounds every request (:class:`Limits`). With ``token``, every path but ``/health`` requires
    the header ``Authorization: Bearer <token>`` (HTTP 401 otherwise, before the body is read).
    Run it with :func:`server_config` for the header deadline and the connection bound.

    Example:
        >>> app = create_app(LocalRetrievalEnv.from_corpus("corpus.jsonl"), topk=3)  # doctest: +SKIP
    """
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    limits = limits or Limits()
    default_topk = topk if topk is not None else env.topk
    if default_topk > limits.max_topk:
        raise Mem1InputError(f"the default topk {default_topk} is over max_topk {limits.max_topk}")

    # retrievers (bm25s, faiss, a torch encoder) are not all thread-safe, and each call already
    # uses every core, so requests take turns; the batch inside a request is what scales
    lock = threading.Lock()
    app = FastAPI(title="mem1 retrieval server", description="Search-R1 / MEM1 retrieval API")
    app.add_middleware(
        RequestGuard, max_bytes=limits.max_body_bytes, read_timeout=limits.read_timeout, token=token
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input: a NaN topk made the 422 unencodable (HTTP 500)
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

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
            "auth": "bearer" if token else "none",
        }

    # a plain ``def`` runs in the threadpool, keeping the event loop free while searching
    # JSONResponse directly: skips FastAPI's per-item re-encoding of large result lists
    @app.post("/retrieve", response_model=None)
    def retrieve(request: RetrieveRequest) -> Any:
        n = len(request.queries)
        if n > limits.max_queries:
            raise HTTPException(413, f"at most {limits.max_queries} queries per request, got {n}")
        if not request.queries:
            return JSONResponse({"result": []})
        k = request.topk or default_topk
        if k > limits.max_topk:
            raise HTTPException(422, f"topk must be <= {limits.max_topk} on this server, got {k}")
        if n * k > limits.max_documents:
            raise HTTPException(
                413,
                f"this request asks for {n} queries x topk {k} = {n * k} documents; at most "
                f"{limits.max_documents} per request on this server (max_documents): send fewer queries",
            )
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
        # estimated before encoding, so an answer too large is never built (ids, contents, keys)
        size = sum(len(d.contents) + len(d.id) + 64 for docs in hits for d in docs)
        if size > limits.max_response_bytes:
            raise HTTPException(
                413,
                f"the answer would be about {size} bytes, over {limits.max_response_bytes} "
                "(max_response_bytes): send fewer queries or a smaller topk",
            )
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


_HEADER_TIMEOUT_BODY = b'{"detail": "request headers not received in time"}'
_HEADER_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_HEADER_TIMEOUT_BODY), _HEADER_TIMEOUT_BODY)
)


def _header_deadline_protocol(read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline on each request's headers.

    uvicorn re-arms its keep-alive timer on every byte, so a client sending headers a byte a
    second (or a connection that never sends any) is held for ever. Here a connection whose next
    request's headers are not complete ``read_timeout`` seconds after it opened (or after its last
    answer) is closed, with a 408 if it had begun a request. The body's deadline is
    :class:`RequestGuard`'s.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._sync_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._sync_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._sync_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_deadline()
            super().connection_lost(exc)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _sync_deadline(self) -> None:
            # their_state is IDLE from the connection (or the last answer) until h11 has a
            # request's whole header block; then the deadline stops
            waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
            if not waiting:
                self._cancel_deadline()
            elif self._deadline is None:
                self._deadline = self.loop.call_later(read_timeout, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            if self.conn.trailing_data[0]:  # a request begun: say why; an idle one just closes
                self.transport.write(_HEADER_TIMEOUT)
            self.transport.close()

    return HeaderDeadlineProtocol


def server_config(
    app: Any, host: str, port: int, limits: Limits | None = None, log_level: str = "warning"
) -> uvicorn.Config:
    """The uvicorn configuration ``mem1 serve-retriever`` runs: ``limits``' header deadline and
    connection bound (h11 with :func:`_header_deadline_protocol`, ``limit_concurrency``).

    Example:
        >>> uvicorn.Server(server_config(create_app(env), "127.0.0.1", 8013)).run()  # doctest: +SKIP
    """
    import uvicorn

    limits = limits or Limits()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=_header_deadline_protocol(limits.read_timeout),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=max(1, math.ceil(limits.read_timeout)),
    )


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

    from mem1_hf.retrieval.local import LocalRetrievalEnv

    limits = Limits(
        max_topk=args.max_topk,
        max_query_chars=args.max_query_chars,
        max_queries=args.max_queries,
        max_body_bytes=args.max_body_bytes,
        max_documents=args.max_documents,
        max_response_bytes=args.max_response_bytes,
        read_timeout=args.read_timeout,
        max_connections=args.max_connections,
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
    uvicorn.Server(server_config(app, args.host, args.port, limits, args.log_level)).run()


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
        "<= --max-queries queries, <= --max-documents documents (queries x topk), an answer <= "
        "--max-response-bytes, body <= --max-body-bytes (HTTP 413 or 422 naming the bound); a "
        "non-integer topk gets HTTP 422. A client has --read-timeout seconds for its headers and as "
        "many for its body (HTTP 408), and at most --max-connections are served at once (HTTP 503). "
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
        "--max-documents",
        type=int,
        default=defaults.max_documents,
        help="documents per answer, queries x topk (default %(default)s)",
    )
    serve.add_argument(
        "--max-response-bytes",
        type=int,
        default=defaults.max_response_bytes,
        help="answer size in bytes, estimated before encoding (default %(default)s = 32 MiB)",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=defaults.read_timeout,
        help="seconds a client has to send its headers, and as many for its body (default %(default)s)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="connections served at once; more get HTTP 503 (default %(default)s)",
    )
    serve.add_argument(
        "--retriever", choices=("bm25", "dense"), default=None, help="must match the index (checked)"
    )
    serve.add_argument("--embedder", default=None, help="dense only: the saved embedder's local copy")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(func=_cmd_serve)
