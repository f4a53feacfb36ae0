"""A link: one client connection, its connection to the upstream, and the two pipes between them.

    link = Link(proxy, index, (reader, writer))     # proxy.py does this for each accepted client
    await link.run()                                 # connect upstream, pump both ways, record capture
    link.close(reset=True)                           # end it (RST with reset=True), from anywhere

One idea: moving bytes, with the toxics in the way. Each Pipe reads one direction in chunks and
asks the toxics that apply to this connection what to do: hold (timeout), delay (latency, on a
delay line that keeps reading so throughput holds), reshape on delivery (limit_data, slicer,
bandwidth, chained by their `stage`), delay the close (slow_close); timers end the connection
(timeout, reset_peer). Which toxics apply is drawn once per connection and toxic from `toxicity`
(seeded: the same connection index draws the same). With no toxics a chunk is written straight on.

Layer: components (asyncio streams; the toxics' behaviour is in toxics/).
"""
from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import time
from typing import TYPE_CHECKING

from .toxics import LinkClosed, Toxic

if TYPE_CHECKING:
    from .proxy import Proxy

CHUNK = 1 << 18
STREAM_LIMIT = 1 << 20  # a stream's read buffer (asyncio's default of 64 KiB halves throughput)
SPIN = 0.0012  # seconds before a delayed chunk is due when the delay line stops sleeping
MAX_QUEUED = 4 << 20  # bytes held on a delay line before reading pauses


class Pipe:
    """One direction of a link: reads chunks, applies the toxics of its stream, writes them on."""

    def __init__(self, link: "Link", stream: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.link, self.stream, self.reader, self.writer = link, stream, reader, writer
        self.queue: collections.deque = collections.deque()  # the delay line: (due, chunk)
        self.queued = 0
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.flusher: asyncio.Task | None = None
        self.delivered = 0  # bytes written on (limit_data counts these)
        self.state: dict[str, float] = {}  # per-toxic state kept across chunks (bandwidth's pace)
        self.capture = bytearray()
        self.total = 0  # bytes read

    async def run(self) -> None:
        link, stream = self.link, self.stream
        proxy, loop, reader = link.proxy, asyncio.get_running_loop(), self.reader
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                n = len(data)
                self.total += n
                proxy.count(stream, n)
                if len(self.capture) < proxy.capture_bytes:
                    self.capture += data[:proxy.capture_bytes - len(self.capture)]
                if not proxy.toxics and not self.queue:  # the fast path: no toxic, nothing waiting
                    self.writer.write(data)
                    self.delivered += n
                    await self.writer.drain()
                    continue
                active = link.active(stream)
                while any(t.holds for t in active):  # a timeout toxic: nothing passes until it goes
                    await proxy.changed()
                    active = link.active(stream)
                delay = sum(t.delay(link.rng) for t in active)
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
            delay = sum(t.close_delay() for t in link.active(stream))
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
        """The delay line: deliver each queued chunk when it is due, in order."""
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
        """Write `data` on through the stages of the toxics that reshape it (lowest stage first)."""
        stages = sorted((t for t in self.link.active(self.stream) if t.stage is not None), key=lambda t: t.stage)
        await self._through(stages, data)

    async def _through(self, stages: list[Toxic], data: bytes) -> None:
        if stages:
            await stages[0].send(self, data, lambda piece: self._through(stages[1:], piece))
            return
        self.writer.write(data)
        self.delivered += len(data)
        await self.writer.drain()


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
        self._active: dict[str, list[Toxic]] = {}  # stream -> toxics that apply; emptied on a change
        seed = proxy.effective_seed()
        self.rng = random.Random(f"{seed}|{index}|rng") if seed is not None else random.Random()
        self.closed = False
        self.stats = proxy.stats
        peer = self.cwriter.get_extra_info("peername") or ("?", 0)
        self.record = {"id": index, "client": f"{peer[0]}:{peer[1]}", "started": time.time()}

    def applies(self, toxic: Toxic) -> bool:
        """Whether `toxic` acts on this connection: drawn once from its toxicity (and again if that changes)."""
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

    def active(self, stream: str) -> list[Toxic]:
        """The toxics on `stream` that apply to this connection, in the order they were added."""
        got = self._active.get(stream)
        if got is None:
            got = self._active[stream] = [t for t in self.proxy.toxics.values()
                                          if t.stream == stream and self.applies(t)]
        return got

    def toxics_changed(self) -> None:
        """Forget which toxics apply and (re)arm the timers of those that have one (timeout, reset_peer)."""
        self._active.clear()
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        wanted = {}
        for t in self.proxy.toxics.values():  # a timer ends the whole connection, whichever stream
            seconds = t.timer()
            if seconds is not None and self.applies(t):
                wanted[(t.name, t.type, seconds, t.toxicity)] = t
        for key in list(self.timers):
            if key not in wanted:
                self.timers.pop(key).cancel()
        for key, t in wanted.items():
            if key not in self.timers:
                self.timers[key] = loop.call_later(key[2], t.fire, self)

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
            if self.pipes:
                proxy.captures.append(self.captured())

    def captured(self) -> dict:
        """This connection's record with each direction's byte count and first captured bytes."""
        return self.record | {s: {"bytes": p.total, "captured": bytes(p.capture)} for s, p in self.pipes.items()}

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
            if reset:  # SO_LINGER 0: close() sends RST and drops unsent data
                sock = w.get_extra_info("socket")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except (OSError, AttributeError):
                    pass
                w.transport.abort()
            else:
                w.close()
