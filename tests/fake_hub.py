"""A local stand-in for the Hugging Face Hub's upload API, recording what huggingface_hub sends.

The real Hub is unreachable here, so upload tests point ``HfApi(endpoint=...)`` at this HTTP
server on 127.0.0.1. It implements the endpoints ``create_repo``, ``create_branch`` and
``upload_folder`` call (repo creation, branch creation, README metadata validation, preupload,
NDJSON commit), answers
every file as a "regular" (inline, base64) upload so the commit carries the bytes, and
records each request. Anything else is answered 404 and recorded, so a test sees it.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHub:
    """The server's recordings: every request, created repos, branches and commits."""

    requests: list[Request] = field(default_factory=list)
    repos: list[dict] = field(default_factory=list)
    branches: list[tuple[str, str]] = field(default_factory=list)
    commits: list[dict] = field(default_factory=list)
    validated: list[dict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    url: str = ""

    def committed_files(self, index: int = -1) -> dict[str, bytes]:
        return self.commits[index]["files"]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _reply(self, status: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            hub.requests.append(Request("POST", self.path, dict(self.headers), body))
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:2] == ["api", "validate-yaml"]:  # upload_folder checks README.md's metadata first
                info = json.loads(body)
                hub.validated.append(info)
                try:
                    header = info["content"].split("---", 2)[1]
                    ok = isinstance(yaml.safe_load(header), dict)
                except (IndexError, yaml.YAMLError):
                    ok = False
                if not ok:
                    return self._reply(
                        400, {"errors": [{"message": "no valid YAML metadata"}], "warnings": []}
                    )
                return self._reply(200, {"errors": [], "warnings": []})
            if parts[:3] == ["api", "repos", "create"]:
                info = json.loads(body)
                hub.repos.append(info)
                kind = info.get("type") or "model"
                prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[kind]
                name = f"{info['organization']}/{info['name']}" if info.get("organization") else info["name"]
                return self._reply(200, {"url": f"{hub.url}/{prefix}{name}", "name": name})
            # /api/{type}s/{org}/{name}/{action}/{revision}
            if len(parts) >= 6 and parts[0] == "api":
                repo, action, revision = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
                if action == "branch":
                    hub.branches.append((repo, revision))
                    return self._reply(200, {})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                if action == "commit":
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    header = next(item["value"] for item in lines if item["key"] == "header")
                    files = {
                        item["value"]["path"]: base64.b64decode(item["value"]["content"])
                        for item in lines
                        if item["key"] == "file"
                    }
                    hub.commits.append(
                        {
                            "repo": repo,
                            "kind": parts[1],
                            "revision": revision,
                            "header": header,
                            "files": files,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                    return self._reply(
                        200,
                        {
                            "commitUrl": f"{hub.url}/{repo}/commit/{'0' * 40}",
                            "commitOid": "0" * 40,
                            "pullRequestUrl": None,
                        },
                    )
            hub.unknown.append(f"POST {self.path}")
            return self._reply(404, {"error": "not implemented by the fake hub"})

        def do_GET(self):  # noqa: N802
            hub.requests.append(Request("GET", self.path, dict(self.headers), b""))
            hub.unknown.append(f"GET {self.path}")
            return self._reply(404, {"error": "not implemented by the fake hub"})

    return Handler


class FakeHubServer:
    """``with FakeHubServer() as hub:`` serves on 127.0.0.1 (a free port) until the block ends."""

    def __enter__(self) -> FakeHub:
        self.hub = FakeHub()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.hub))
        self.hub.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.hub

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
