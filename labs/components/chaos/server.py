"""The `chaos` server: TCP proxies that break the network on purpose, driven by Toxiproxy's HTTP API.

    python -m labs.components.chaos --host 127.0.0.1 --http-port 8474 [--seed 42]

One asyncio event loop runs the HTTP API and every proxy's data path (stdlib only, no framework:
the API is small and a bare handler keeps the proxy's added latency low).

Toxiproxy's API: GET/POST /proxies, POST /populate, GET/POST/DELETE /proxies/{proxy},
GET/POST /proxies/{proxy}/toxics, GET/POST/DELETE /proxies/{proxy}/toxics/{toxic}, POST /reset,
GET /version. Status codes as Toxiproxy's: 201 for a new proxy, 200 for a new toxic (what its
clients check), 204 for a delete or reset, 404 unknown, 409 duplicate name, 400 bad input with
{"error": ..., "status": ...} naming the allowed range.

Lab extensions: GET /health; GET /proxies/{proxy}/stats (connections, bytes each way, resets,
timeouts); GET /proxies/{proxy}/capture (the first `capture_bytes` of each direction of the last
connections, to see what travels in plaintext); optional proxy fields `seed` (the same seed gives
the same per-connection fault schedule) and `capture_bytes` on create/update; `--seed` for all.

Semantics follow Toxiproxy: a toxic's `toxicity` is drawn once per connection (and toxic); latency
delays each chunk by latency +/- jitter without slowing throughput; bandwidth paces to `rate` KB/s;
timeout holds data and closes the connection after `timeout` ms (0: holds until removed);
reset_peer resets both sides after `timeout` ms; slow_close delays the close; slicer cuts chunks
into ~average_size pieces `delay` us apart; limit_data closes once `bytes` have passed.
Every listener binds 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import random
import socket
import struct
import time
from typing import Any
from urllib.parse import unquote

from .toxics import BadToxic, check_attributes, check_stream, check_toxicity

HOST = "127.0.0.1"
VERSION = "2.9.0"  # the Toxiproxy API version this server follows
CHUNK = 1 << 18
STREAM_LIMIT = 1 << 20  # a stream's read buffer (asyncio's default of 64 KiB halves throughput)
CAPTURE_BYTES = 4096
CAPTURE_CONNECTIONS = 32
SPIN = 0.0012  # seconds before a delayed chunk is due when a latency toxic stops sleeping
MAX_QUEUED = 4 << 20  # bytes held in a latency queue before reading pauses
_LOCAL_NAMES = {"127.0.0.1", "localhost", "0.0.0.0", "", "[::]", "::", "[::1]", "::1"}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _split_addr(value: Any, field: str) -> tuple[str, int]:
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


class Toxic:
    def __init__(self, name: str, type_: str, stream: str, toxicity: float, attributes: dict):
        self.name, self.type, self.stream, self.toxicity, self.attributes = name, type_, stream, toxicity, attributes

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}


class LinkClosed(Exception):
    pass


class Pipe:
    """One direction of a connection: reads chunks, applies the toxics of its stream, writes them on."""

    def __init__(self, link: "Link", stream: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.link, self.stream, self.reader, self.writer = link, stream, reader, writer
        self.queue: collections.deque = collections.deque()
        self.queued = 0
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.flusher: asyncio.Task | None = None
        self.delivered = 0
        self.bw_next = 0.0
        self.capture = bytearray()
        self.total = 0

    async def run(self) -> None:
        proxy, link, loop = self.link.proxy, self.link, asyncio.get_running_loop()
        reader = self.reader
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                n = len(data)
                self.total += n
                proxy.count(self.stream, n)
                if len(self.capture) < proxy.capture_bytes:
                    self.capture += data[:proxy.capture_bytes - len(self.capture)]
                if not proxy.toxics and not self.queue:
                    self.writer.write(data)
                    self.delivered += n
                    await self.writer.drain()
                    continue
                while link.held(self.stream):  # a timeout toxic: nothing passes until it goes
                    await proxy.changed()
                delay = link.latency(self.stream)
                if delay > 0 or self.queue:
                    self.queue.append((loop.time() + delay, data))
                    self.queued += n
                    self.drained.clear()
                    if self.flusher is None:
                        self.flusher = asyncio.create_task(self.flush())
                    self.wake.set()
                    while self.queued > MAX_QUEUED:
                        await self.wait_drained()
                else:
                    await self.deliver(data)
            await self.wait_drained()
            delay = link.slow_close(self.stream)
            if delay:
                await asyncio.sleep(delay)
            if self.writer.can_write_eof():
                self.writer.write_eof()
            await self.writer.drain()
        except (LinkClosed, ConnectionError, OSError):
            link.close()
        finally:
            if self.flusher is not None:
                self.flusher.cancel()

    async def wait_drained(self) -> None:
        while self.queue:
            self.drained.clear()
            await self.drained.wait()

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.queue:
                    self.drained.set()
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                due, data = self.queue[0]
                wait = due - loop.time()
                if wait > SPIN:  # the loop's timers fire up to ~1 ms late (epoll counts whole ms) ...
                    await asyncio.sleep(wait - SPIN)
                while loop.time() < due:  # ... so the last stretch yields to the loop until due
                    await asyncio.sleep(0)
                self.queue.popleft()
                self.queued -= len(data)
                await self.deliver(data)
                if not self.queue:
                    self.drained.set()
        except (LinkClosed, ConnectionError, OSError):
            self.queue.clear()
            self.drained.set()
            self.link.close()

    async def deliver(self, data: bytes) -> None:
        link = self.link
        rate, slicer, limit = link.shaping(self.stream)
        if limit is not None and self.delivered + len(data) >= limit:
            data = data[:max(0, limit - self.delivered)]
            if data:
                self.writer.write(data)
                self.delivered += len(data)
                await self.writer.drain()
            link.stats["limited"] = link.stats.get("limited", 0) + 1
            raise LinkClosed()
        pieces = [data]
        if slicer is not None:
            avg, var, _ = slicer
            pieces, i = [], 0
            while i < len(data):
                size = max(1, int(avg + (link.rng.randint(-int(var), int(var)) if var else 0)))
                pieces.append(data[i:i + size])
                i += size
        if rate is not None:
            step = max(1, int(rate * 50))  # ~50 ms worth per write keeps the pace smooth
            pieces = [p[i:i + step] for p in pieces for i in range(0, len(p), step)]
        loop = asyncio.get_running_loop()
        for k, piece in enumerate(pieces):
            if rate is not None:
                now = loop.time()
                self.bw_next = max(now, self.bw_next) + len(piece) / (rate * 1000.0)
                if self.bw_next > now:
                    await asyncio.sleep(self.bw_next - now)
            self.writer.write(piece)
            self.delivered += len(piece)
            await self.writer.drain()
            if slicer is not None and slicer[2] and k + 1 < len(pieces):
                await asyncio.sleep(slicer[2] / 1e6)


class Link:
    """One client connection and its connection to the upstream."""

    def __init__(self, proxy: "Proxy", index: int, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]):
        self.proxy, self.index = proxy, index
        self.creader, self.cwriter = client
        self.uwriter: asyncio.StreamWriter | None = None
        self.pipes: dict[str, Pipe] = {}
        self.tasks: list[asyncio.Task] = []
        self.decisions: dict[tuple, bool] = {}
        self.timers: dict[tuple, asyncio.TimerHandle] = {}
        seed = proxy.effective_seed()
        self.rng = random.Random(f"{seed}|{index}|rng") if seed is not None else random.Random()
        self.closed = False
        self.stats = proxy.stats
        peer = self.cwriter.get_extra_info("peername") or ("?", 0)
        self.record = {"id": index, "client": f"{peer[0]}:{peer[1]}", "started": time.time()}

    def applies(self, toxic: Toxic) -> bool:
        key = (toxic.name, toxic.toxicity)
        got = self.decisions.get(key)
        if got is None:
            if toxic.toxicity >= 1:
                got = True
            elif toxic.toxicity <= 0:
                got = False
            else:
                seed = self.proxy.effective_seed()
                rng = random.Random(f"{seed}|{self.index}|{toxic.name}") if seed is not None else random
                got = rng.random() < toxic.toxicity
            self.decisions[key] = got
        return got

    def active(self, stream: str):
        return [t for t in self.proxy.toxics.values() if t.stream == stream and self.applies(t)]

    def held(self, stream: str) -> bool:
        return any(t.type == "timeout" for t in self.active(stream))

    def latency(self, stream: str) -> float:
        total = 0.0
        for t in self.active(stream):
            if t.type == "latency":
                jitter = t.attributes["jitter"]
                ms = t.attributes["latency"] + (self.rng.uniform(-jitter, jitter) if jitter else 0)
                total += max(0.0, ms)
        return total / 1000.0

    def slow_close(self, stream: str) -> float:
        return sum(t.attributes["delay"] for t in self.active(stream) if t.type == "slow_close") / 1000.0

    def shaping(self, stream: str):
        rate = slicer = limit = None
        for t in self.active(stream):
            a = t.attributes
            if t.type == "bandwidth":
                rate = a["rate"] if rate is None else min(rate, a["rate"])
            elif t.type == "slicer":
                slicer = (a["average_size"], a["size_variation"], a["delay"])
            elif t.type == "limit_data":
                limit = a["bytes"] if limit is None else min(limit, a["bytes"])
        return rate, slicer, limit

    def toxics_changed(self) -> None:
        """(Re)arm the timers of timeout and reset_peer toxics that apply to this connection."""
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        wanted = {}
        for t in self.proxy.toxics.values():
            if t.type == "reset_peer" or (t.type == "timeout" and t.attributes["timeout"] > 0):
                if self.applies(t):
                    wanted[(t.name, t.type, t.attributes["timeout"], t.toxicity)] = t
        for key in list(self.timers):
            if key not in wanted:
                self.timers.pop(key).cancel()
        for key, t in wanted.items():
            if key not in self.timers:
                self.timers[key] = loop.call_later(t.attributes["timeout"] / 1000.0, self.fire, t.type)

    def fire(self, kind: str) -> None:
        if kind == "reset_peer":
            self.stats["resets"] += 1
            self.close(reset=True)
        else:
            self.stats["timeouts"] += 1
            self.close()

    async def run(self) -> None:
        proxy = self.proxy
        host, port = proxy.upstream_addr
        try:
            try:
                ureader, self.uwriter = await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
            except OSError:
                self.stats["refused"] += 1
                return
            for w in (self.cwriter, self.uwriter):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.closed:
                return
            self.pipes = {"upstream": Pipe(self, "upstream", self.creader, self.uwriter),
                          "downstream": Pipe(self, "downstream", ureader, self.cwriter)}
            self.toxics_changed()
            self.tasks = [asyncio.create_task(p.run()) for p in self.pipes.values()]
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            self.close()
            proxy.links.discard(self)
            proxy.stats["active"] = len(proxy.links)
            for stream, pipe in self.pipes.items():
                self.record[stream] = {"bytes": pipe.total, "captured": bytes(pipe.capture)}
            if self.pipes:
                proxy.captures.append(self.record)

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for w in (self.cwriter, self.uwriter):
            if w is None:
                continue
            if reset:
                sock = w.get_extra_info("socket")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except (OSError, AttributeError):
                    pass
                w.transport.abort()
            else:
                w.close()


class Proxy:
    def __init__(self, server: "ChaosServer", name: str, listen: tuple[str, int], upstream: str,
                 seed: Any = None, capture_bytes: int = CAPTURE_BYTES):
        self.server, self.name = server, name
        self.listen_port = listen[1]
        self.upstream = upstream
        self.upstream_addr = _split_addr(upstream, "upstream")
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.listener: asyncio.AbstractServer | None = None
        self.seed = seed
        self.capture_bytes = capture_bytes
        self.next_index = 0
        self.captures: collections.deque = collections.deque(maxlen=CAPTURE_CONNECTIONS)
        self._changed = asyncio.Event()
        self.reset_stats()

    def reset_stats(self) -> None:
        self.stats = {"connections": 0, "active": 0, "bytes_upstream": 0, "bytes_downstream": 0,
                      "resets": 0, "timeouts": 0, "refused": 0}
        for link in getattr(self, "links", ()):
            link.stats = self.stats

    def effective_seed(self) -> Any:
        if self.seed is not None:
            return self.seed
        if self.server.seed is not None:
            return f"{self.server.seed}|{self.name}"
        return None

    def count(self, stream: str, n: int) -> None:
        self.stats["bytes_" + stream] += n

    async def changed(self) -> None:
        await self._changed.wait()

    def notify(self) -> None:
        """Toxics changed: wake held pipes and re-arm every connection's timers."""
        self._changed.set()
        self._changed = asyncio.Event()
        for link in list(self.links):
            link.toxics_changed()

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

    def to_json(self) -> dict:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxics.values()]}

    def stats_json(self) -> dict:
        return {"name": self.name, **self.stats, "seed": self.seed, "capture_bytes": self.capture_bytes}

    def capture_json(self) -> dict:
        records = list(self.captures) + [l.record | {s: {"bytes": p.total, "captured": bytes(p.capture)}
                                                     for s, p in l.pipes.items()}
                                         for l in sorted(self.links, key=lambda l: l.index) if l.pipes]
        out = []
        for r in sorted(records, key=lambda r: r["id"]):
            item = {"id": r["id"], "client": r["client"], "started": r["started"]}
            for s in ("upstream", "downstream"):
                got = r.get(s) or {"bytes": 0, "captured": b""}
                item[s] = {"bytes": got["bytes"], "captured_bytes": len(got["captured"]),
                           "base64": base64.b64encode(got["captured"]).decode(),
                           "text": got["captured"].decode("utf-8", "replace")}
            out.append(item)
        return {"name": self.name, "capture_bytes": self.capture_bytes, "connections": out}


def _check_seed(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise ApiError(400, f"seed must be an integer, a string or null, got {value!r}")
    return value


def _check_capture(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 20:
        raise ApiError(400, f"capture_bytes must be an integer in 0..1048576, got {value!r}")
    return value


class ChaosServer:
    def __init__(self, seed: Any = None):
        self.seed = seed
        self.proxies: dict[str, Proxy] = {}

    # --- proxies -----------------------------------------------------------------------------
    def _listen(self, value: Any) -> tuple[str, int]:
        host, port = _split_addr(value, "listen")
        if host not in _LOCAL_NAMES:
            raise ApiError(400, f"listen must be on 127.0.0.1 (the lab binds loopback only), got {value!r}")
        return HOST, port

    async def create(self, body: Any) -> Proxy:
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with name, listen and upstream")
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise ApiError(400, f"name must be a non-empty string without '/', got {name!r}")
        if name in self.proxies:
            raise ApiError(409, f"proxy {name!r} already exists")
        unknown = set(body) - {"name", "listen", "upstream", "enabled", "toxics", "seed", "capture_bytes"}
        if unknown:
            raise ApiError(400, f"unknown proxy field {sorted(unknown)[0]!r}; fields: name, listen, upstream, "
                                "enabled, seed, capture_bytes")
        listen = self._listen(body.get("listen", f"{HOST}:0"))
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, f"enabled must be true or false, got {enabled!r}")
        proxy = Proxy(self, name, listen, body.get("upstream"), _check_seed(body.get("seed")),
                      _check_capture(body.get("capture_bytes", CAPTURE_BYTES)))
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, f"proxy {name!r} not found") from None

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        restart = False
        if "upstream" in body and body["upstream"] != proxy.upstream:
            proxy.upstream_addr = _split_addr(body["upstream"], "upstream")
            proxy.upstream = body["upstream"]
            restart = True
        if "listen" in body:
            _, port = self._listen(body["listen"])
            if port and port != proxy.listen_port:
                proxy.listen_port = port
                restart = True
        if "seed" in body:
            proxy.seed = _check_seed(body["seed"])
            proxy.next_index = 0
        if "capture_bytes" in body:
            proxy.capture_bytes = _check_capture(body["capture_bytes"])
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(enabled, bool):
            raise ApiError(400, f"enabled must be true or false, got {enabled!r}")
        if restart or not enabled:
            await proxy.stop()
        if enabled:
            await proxy.start()
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            proxy.notify()
            await proxy.start()

    async def populate(self, body: Any) -> list[Proxy]:
        items = body.get("proxies") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise ApiError(400, "expected a JSON array of proxies")
        out = []
        for item in items:
            if isinstance(item, dict) and item.get("name") in self.proxies:
                await self.delete(item["name"])
            out.append(await self.create(item))
        return out

    # --- toxics ------------------------------------------------------------------------------
    def add_toxic(self, proxy: Proxy, body: Any) -> Toxic:
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with type, stream, toxicity and attributes")
        unknown = set(body) - {"name", "type", "stream", "toxicity", "attributes"}
        if unknown:
            raise ApiError(400, f"unknown toxic field {sorted(unknown)[0]!r}; fields: name, type, stream, "
                                "toxicity, attributes")
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
        if name in proxy.toxics:
            raise ApiError(409, f"toxic {name!r} already exists on proxy {proxy.name!r}")
        toxic = Toxic(name, type_, stream, toxicity, attributes)
        proxy.toxics[name] = toxic
        proxy.notify()
        return toxic

    def get_toxic(self, proxy: Proxy, name: str) -> Toxic:
        try:
            return proxy.toxics[name]
        except KeyError:
            raise ApiError(404, f"toxic {name!r} not found on proxy {proxy.name!r}") from None

    def update_toxic(self, proxy: Proxy, name: str, body: Any) -> Toxic:
        toxic = self.get_toxic(proxy, name)
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        try:
            attributes = check_attributes(toxic.type, body.get("attributes") or {}, toxic.attributes)
            toxicity = check_toxicity(body.get("toxicity", toxic.toxicity))
            stream = check_stream(body.get("stream", toxic.stream))
        except BadToxic as exc:
            raise ApiError(400, str(exc)) from None
        toxic.attributes, toxic.toxicity, toxic.stream = attributes, toxicity, stream
        proxy.notify()
        return toxic

    def remove_toxic(self, proxy: Proxy, name: str) -> None:
        self.get_toxic(proxy, name)
        del proxy.toxics[name]
        proxy.notify()

    # --- HTTP --------------------------------------------------------------------------------
    async def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]  # names may hold spaces (%20)
        n = len(parts)
        if parts == ["health"] and method == "GET":
            return 200, {"status": "ok", "proxies": len(self.proxies)}
        if parts == ["version"] and method == "GET":
            return 200, {"version": VERSION, "server": "labs chaos"}
        if parts == ["reset"] and method == "POST":
            await self.reset()
            return 204, None
        if parts == ["populate"] and method == "POST":
            return 201, {"proxies": [p.to_json() for p in await self.populate(body)]}
        if not parts or parts[0] != "proxies":
            raise ApiError(404, f"no such endpoint: {path}")
        if n == 1:
            if method == "GET":
                return 200, {name: p.to_json() for name, p in self.proxies.items()}
            if method == "POST":
                return 201, (await self.create(body)).to_json()
        elif n == 2:
            if method == "GET":
                return 200, self.get(parts[1]).to_json()
            if method in ("POST", "PATCH"):
                return 200, (await self.update(parts[1], body)).to_json()
            if method == "DELETE":
                await self.delete(parts[1])
                return 204, None
        elif n == 3 and parts[2] == "toxics":
            proxy = self.get(parts[1])
            if method == "GET":
                return 200, [t.to_json() for t in proxy.toxics.values()]
            if method == "POST":
                return 200, self.add_toxic(proxy, body).to_json()
        elif n == 3 and parts[2] == "stats" and method == "GET":
            return 200, self.get(parts[1]).stats_json()
        elif n == 3 and parts[2] == "capture":
            proxy = self.get(parts[1])
            if method == "GET":
                return 200, proxy.capture_json()
            if method == "DELETE":
                proxy.captures.clear()
                return 204, None
        elif n == 4 and parts[2] == "toxics":
            proxy = self.get(parts[1])
            if method == "GET":
                return 200, self.get_toxic(proxy, parts[3]).to_json()
            if method in ("POST", "PATCH"):
                return 200, self.update_toxic(proxy, parts[3], body).to_json()
            if method == "DELETE":
                self.remove_toxic(proxy, parts[3])
                return 204, None
        else:
            raise ApiError(404, f"no such endpoint: {path}")
        raise ApiError(405, f"{method} is not allowed on {path}")

    async def handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                try:
                    method, target, version = line.decode("latin-1").split()
                except ValueError:
                    break
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                raw = b""
                if "content-length" in headers:
                    raw = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size = int((await reader.readline()).split(b";")[0], 16)
                        chunk = await reader.readexactly(size + 2)
                        raw += chunk[:-2]
                        if size == 0:
                            break
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError as exc:
                    status, payload = 400, {"error": f"the body is not JSON: {exc}", "status": 400}
                else:
                    try:
                        status, payload = await self.route(method.upper(), target, body)
                    except ApiError as exc:
                        status, payload = exc.status, {"error": str(exc), "status": exc.status}
                    except Exception as exc:  # a bug: answer rather than drop the connection
                        status, payload = 500, {"error": repr(exc), "status": 500}
                keep = (version == "HTTP/1.1" and headers.get("connection", "").lower() != "close") or \
                    headers.get("connection", "").lower() == "keep-alive"
                data = b"" if status == 204 or payload is None else json.dumps(payload).encode()
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}"]
                if status != 204:
                    head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
                head.append("Connection: keep-alive" if keep else "Connection: close")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 500: "Internal Server Error"}


async def serve(host: str, http_port: int, seed: Any = None) -> None:
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"chaos listens on 127.0.0.1 only, got --host {host}")
    server = ChaosServer(seed)
    api = await asyncio.start_server(server.handle_http, HOST, http_port, reuse_address=True)
    print(f"chaos: Toxiproxy-compatible API on http://{HOST}:{api.sockets[0].getsockname()[1]}", flush=True)
    async with api:
        await api.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the lab's fault-injecting TCP proxy (Toxiproxy's API).")
    parser.add_argument("--host", default=HOST, help="the only address to listen on (127.0.0.1)")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--seed", default=None, help="seed every proxy's fault schedule")
    args = parser.parse_args(argv)
    seed = int(args.seed) if args.seed is not None and args.seed.lstrip("-").isdigit() else args.seed
    try:
        asyncio.run(serve(args.host, args.http_port, seed))
    except KeyboardInterrupt:
        pass
