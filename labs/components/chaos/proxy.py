"""A proxy: one named listener on 127.0.0.1, its links, its toxics, its stats and its capture.

    proxy = Proxy(collection, "users", ("127.0.0.1", 0), "127.0.0.1:8001", seed=None, capture_bytes=4096)
    await proxy.start()                  # listen (port 0: the kernel picks; proxy.listen says which)
    proxy.add_toxic({"type": "latency", "attributes": {"latency": 100}})   # every link sees it at once
    proxy.stats_json(); proxy.capture_json()
    await proxy.stop()                   # stop listening and cut every link (enabled: false)

One idea: the state of one proxy, as Toxiproxy's proxy.go and toxic_collection.go keep it. Each
accepted client becomes a Link (link.py); a change to the toxics wakes held pipes and re-arms the
links' timers. Lab extensions: `stats` (connections, bytes each way, resets, timeouts, refused),
`capture` (the first `capture_bytes` of each direction of the last 32 connections, to see what
travels in plaintext) and `seed` (the same seed gives the same per-connection fault schedule).

Layer: components.
"""
from __future__ import annotations

import asyncio
import base64
import collections
from typing import TYPE_CHECKING, Any

from .link import STREAM_LIMIT, Link
from .toxics import BadToxic, Toxic, build, check_attributes, check_stream, check_toxicity

if TYPE_CHECKING:
    from .collection import ProxyCollection

HOST = "127.0.0.1"
CAPTURE_BYTES = 4096
CAPTURE_CONNECTIONS = 32
TOXIC_FIELDS = ("name", "type", "stream", "toxicity", "attributes")


class ApiError(Exception):
    """A refused request: the API answers `status` with {"error": message, "status": status}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def split_addr(value: Any, field: str) -> tuple[str, int]:
    """'host:port' as (host, port), else a 400 naming the expected form."""
    if not isinstance(value, str) or ":" not in value:
        raise ApiError(400, f"{field} must be 'host:port', got {value!r}")
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ApiError(400, f"{field} port must be in 0..65535, got {port!r}")
    return host, number


class Proxy:
    def __init__(self, collection: "ProxyCollection", name: str, listen: tuple[str, int], upstream: Any,
                 seed: Any, capture_bytes: int):
        self.collection, self.name = collection, name
        self.listen_port = listen[1]
        self.upstream = upstream
        self.upstream_addr = split_addr(upstream, "upstream")
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.listener: asyncio.AbstractServer | None = None
        self.seed = seed
        self.capture_bytes = capture_bytes
        self.next_index = 0
        self.captures: collections.deque = collections.deque(maxlen=CAPTURE_CONNECTIONS)
        self._changed = asyncio.Event()
        self.stats = {"connections": 0, "active": 0, "bytes_upstream": 0, "bytes_downstream": 0,
                      "resets": 0, "timeouts": 0, "refused": 0}

    def effective_seed(self) -> Any:
        """This proxy's seed, else one derived from the server's --seed, else None (unseeded)."""
        if self.seed is not None:
            return self.seed
        if self.collection.seed is not None:
            return f"{self.collection.seed}|{self.name}"
        return None

    def count(self, stream: str, n: int) -> None:
        self.stats["bytes_" + stream] += n

    async def changed(self) -> None:
        await self._changed.wait()

    def notify(self) -> None:
        """Toxics changed: wake held pipes and re-arm every link's timers."""
        self._changed.set()
        self._changed = asyncio.Event()
        for link in list(self.links):
            link.toxics_changed()

    # --- listening -----------------------------------------------------------------------------
    @property
    def listen(self) -> str:
        return f"{HOST}:{self.listen_port}"

    async def start(self) -> None:
        if self.listener is not None:
            return
        try:
            self.listener = await asyncio.start_server(self._accept, HOST, self.listen_port, reuse_address=True,
                                                      limit=STREAM_LIMIT)
        except OSError as exc:
            raise ApiError(409 if self.listen_port else 500, f"cannot listen on {self.listen}: {exc.strerror or exc}")
        self.listen_port = self.listener.sockets[0].getsockname()[1]
        self.enabled = True

    async def stop(self) -> None:
        self.enabled = False
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for link in list(self.links):
            link.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.enabled:
            writer.close()
            return
        link = Link(self, self.next_index, (reader, writer))
        self.next_index += 1
        self.links.add(link)
        self.stats["connections"] += 1
        self.stats["active"] = len(self.links)
        await link.run()

    # --- toxics (Toxiproxy's toxic_collection) ----------------------------------------------------
    def add_toxic(self, body: Any) -> Toxic:
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with type, stream, toxicity and attributes")
        unknown = set(body) - set(TOXIC_FIELDS)
        if unknown:
            raise ApiError(400, f"unknown toxic field {sorted(unknown)[0]!r}; fields: {', '.join(TOXIC_FIELDS)}")
        try:
            type_ = body.get("type")
            attributes = check_attributes(type_, body.get("attributes"))
            stream = check_stream(body.get("stream", "downstream"))
            toxicity = check_toxicity(body.get("toxicity", 1.0))
        except BadToxic as exc:
            raise ApiError(400, str(exc)) from None
        name = body.get("name") or f"{type_}_{stream}"
        if not isinstance(name, str) or "/" in name:
            raise ApiError(400, f"toxic name must be a string without '/', got {name!r}")
        if name in self.toxics:
            raise ApiError(409, f"toxic {name!r} already exists on proxy {self.name!r}")
        toxic = self.toxics[name] = build(type_, name, stream, toxicity, attributes)
        self.notify()
        return toxic

    def get_toxic(self, name: str) -> Toxic:
        try:
            return self.toxics[name]
        except KeyError:
            raise ApiError(404, f"toxic {name!r} not found on proxy {self.name!r}") from None

    def update_toxic(self, name: str, body: Any) -> Toxic:
        toxic = self.get_toxic(name)
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        try:
            attributes = check_attributes(toxic.type, body.get("attributes") or {}, toxic.attributes)
            toxicity = check_toxicity(body.get("toxicity", toxic.toxicity))
            stream = check_stream(body.get("stream", toxic.stream))
        except BadToxic as exc:
            raise ApiError(400, str(exc)) from None
        toxic.attributes, toxic.toxicity, toxic.stream = attributes, toxicity, stream
        self.notify()
        return toxic

    def remove_toxic(self, name: str) -> None:
        self.get_toxic(name)
        del self.toxics[name]
        self.notify()

    def reset_toxics(self) -> None:
        self.toxics.clear()
        self.notify()

    # --- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxics.values()]}

    def stats_json(self) -> dict:
        return {"name": self.name, **self.stats, "seed": self.seed, "capture_bytes": self.capture_bytes}

    def capture_json(self) -> dict:
        live = [link.captured() for link in self.links if link.pipes]
        out = []
        for r in sorted(list(self.captures) + live, key=lambda r: r["id"]):
            item = {"id": r["id"], "client": r["client"], "started": r["started"]}
            for s in ("upstream", "downstream"):
                got = r.get(s) or {"bytes": 0, "captured": b""}
                item[s] = {"bytes": got["bytes"], "captured_bytes": len(got["captured"]),
                           "base64": base64.b64encode(got["captured"]).decode(),
                           "text": got["captured"].decode("utf-8", "replace")}
            out.append(item)
        return {"name": self.name, "capture_bytes": self.capture_bytes, "connections": out}
