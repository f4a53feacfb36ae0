"""REST as lesson 04 shows it: plain httpx against the ticketing services, with the requests and
bytes a screen costs counted.

    log = rest.RequestLog()
    users = rest.client(lab, "users", log)                  # an httpx.Client that logs to `log`
    users.get("/users/u1"); log.requests, log.response_bytes
    rest.routes(users)                                      # the API's resources and verbs (OpenAPI)
    rest.order_screen(clients, "o1")                        # one screen, three requests
    rest.requests_received(clients)                         # what the services themselves counted
    wire = rest.WireLog(httpx.HTTPTransport())              # a transport recording what really left
    rest.unshown_bytes(body, shown={"name"})                # bytes fetched that the screen never shows
    with rest.serve_app(app) as base_url: ...               # your FastAPI app on a loopback port
    with rest.serve_app_http2(app) as base_url: ...         # ... served over HTTP/1.1 and HTTP/2
    rest.measure_concurrently(base_url, "/concerts/c1", n=160, concurrency=16, http2=True)  # bench.Samples

Layer: lessons.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import httpx

from ..runtime import args

SERVICES = ("users", "concerts", "payments", "notifications", "orders")
TIMEOUT = 5.0


@dataclass
class RequestLog:
    """What a client sent: one line per request (method, path, status, response body bytes)."""
    lines: list[tuple[str, str, int, int]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.lines)

    @property
    def response_bytes(self) -> int:
        return sum(line[3] for line in self.lines)

    def clear(self) -> None:
        self.lines.clear()

    def on_response(self, response: httpx.Response) -> None:
        response.read()  # the body's size is part of the cost
        self.lines.append((response.request.method, response.request.url.path, response.status_code,
                           len(response.content)))


def client(lab: Any, name: str, log: RequestLog | None = None, **options: Any) -> httpx.Client:
    """A kept-alive httpx client for one service's REST API; `log` records every request it makes."""
    if name not in SERVICES:
        raise ValueError(f"name must be one of the ticketing services {', '.join(SERVICES)}, got {name!r}")
    hooks = {"response": [log.on_response]} if log is not None else {}
    return httpx.Client(base_url=lab.endpoint(name)["http"], timeout=options.pop("timeout", TIMEOUT),
                        event_hooks=hooks, **options)


def clients(lab: Any, log: RequestLog | None = None, names: Iterable[str] = SERVICES) -> dict[str, httpx.Client]:
    return {name: client(lab, name, log) for name in names}


def routes(api: httpx.Client) -> list[dict[str, str]]:
    """The service's resources and verbs, as its OpenAPI document lists them (admin routes left out)."""
    spec = api.get("/openapi.json").raise_for_status().json()
    return [{"verb": verb.upper(), "path": path, "summary": operation.get("summary", "")}
            for path, operations in spec["paths"].items() if not path.startswith(("/admin", "/health"))
            for verb, operation in operations.items()]


# ---- one screen of the ticketing app ------------------------------------------------------------

# What the order confirmation screen shows, resource by resource.
ORDER_SCREEN_SHOWS = {"order": {"id", "status", "amount"}, "user": {"name"}, "concert": {"title", "seats_left"}}


def order_screen(api: Mapping[str, httpx.Client], order_id: str) -> dict[str, dict]:
    """Everything the order screen needs, resource by resource: the order first, then the user and
    the concert it names (their ids are in the order, so these wait for it)."""
    order = api["orders"].get(f"/orders/{order_id}").raise_for_status().json()
    user = api["users"].get(f"/users/{order['user_id']}").raise_for_status().json()
    concert = api["concerts"].get(f"/concerts/{order['concert_id']}").raise_for_status().json()
    return {"order": order, "user": user, "concert": concert}


def requests_received(api: Mapping[str, httpx.Client]) -> Counter:
    """The REST requests each service says it received (its /admin/requests counter), keyed
    "service: METHOD /path". Subtract two readings to count what happened in between."""
    return Counter({f"{name}: {route}": count for name, client in api.items()
                    for route, count in client.get("/admin/requests").raise_for_status().json().items()})


class WireLog(httpx.BaseTransport):
    """A transport that records every request that really leaves this process, with the validator
    it carried (If-None-Match) and the status and body bytes that came back, then passes it on to
    `inner`. Put it under a cache to see which reads the cache answered by itself."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.lines: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.lines.append({"verb": request.method, "path": request.url.path,
                           "If-None-Match": request.headers.get("if-none-match", ""),
                           "status": response.status_code, "body bytes": len(response.content)})
        return response

    def close(self) -> None:
        self.inner.close()


def json_bytes(value: Any) -> int:
    """Bytes of `value` as compact JSON, as the services send it."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def unshown_bytes(body: Mapping[str, Any], shown: Iterable[str]) -> int:
    """Bytes of a JSON body spent on fields the screen does not show (over-fetching)."""
    shown = set(shown)
    unknown = shown - set(body)
    if unknown:
        raise ValueError(f"the body has no field {sorted(unknown)[0]!r}; its fields: {', '.join(body)}")
    return json_bytes(dict(body)) - json_bytes({k: v for k, v in body.items() if k in shown})


# ---- serving a FastAPI app of the lesson's own -------------------------------------------------

@contextlib.contextmanager
def serve_app(app: Any, startup_timeout: float = 10.0, log_level: str = "warning") -> Iterator[str]:
    """Run an ASGI app (e.g. FastAPI) with uvicorn on a free loopback port for the block; yields its
    base URL. The server runs in a daemon thread of this process and is stopped after the block;
    log_level "critical" keeps the tracebacks of failing requests out of the output."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="lesson-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the app did not start serving; its error is printed above")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def service_app(name: str) -> Any:
    """The FastAPI app a lab service runs, built in this process with its own seed data, to serve it
    another way (e.g. with `serve_app_http2`). Only services that call no others: users, concerts,
    notifications."""
    from ..components.ticketing.services import common, concerts, notifications, users

    builders = {"users": users.build, "concerts": concerts.build, "notifications": notifications.build}
    if name not in builders:
        raise ValueError(f"name must be one of {', '.join(builders)} (services that call no others), got {name!r}")
    return builders[name](common.Dependencies(name)).app


@contextlib.contextmanager
def serve_app_http2(app: Any, startup_timeout: float = 10.0) -> Iterator[str]:
    """Run an ASGI app with hypercorn, which speaks HTTP/1.1 and HTTP/2 on the same port (HTTP/2 over
    plain http:// when the client starts with HTTP/2's preface: httpx.Client(http1=False, http2=True)).
    Yields its base URL; a daemon thread of this process serves it until the block ends."""
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from ..runtime.ports import free_port

    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, name="lesson-hypercorn", daemon=True,
                              args=(serve(app, config, shutdown_trigger=stop.wait),))
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.TransportError:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"hypercorn did not start serving on 127.0.0.1:{port}") from None
            time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)


def measure_concurrently(base_url: str, path: str, n: int = 160, concurrency: int = 16, *,
                         http2: bool = False) -> Any:
    """GET `path` `n` times, `concurrency` requests in flight at once, from ONE httpx.AsyncClient that
    speaks HTTP/1.1 or, with `http2`, only HTTP/2 (prior knowledge). Returns a bench.Samples labelled
    with the protocol the server answered in.

    asyncio rather than threads: httpcore's synchronous HTTP/2 connection, shared by 16 threads, now
    and then sends stream ids out of order (the server then ends the connection with PROTOCOL_ERROR);
    its asyncio connection, which is how HTTP/2 clients normally multiplex, does not."""
    from ..tools import bench

    args.whole("n", n, 1, bench.MAX_CALLS)
    args.whole("concurrency", concurrency, 1, bench.MAX_CONCURRENCY)
    samples = bench.Samples("", concurrency=concurrency)

    async def run() -> None:
        async with httpx.AsyncClient(base_url=base_url, http1=not http2, http2=http2, timeout=TIMEOUT) as client:
            samples.label = (await client.get(path)).raise_for_status().http_version
            slots = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with slots:
                    started = time.perf_counter()
                    (await client.get(path)).raise_for_status()
                    samples.seconds.append(time.perf_counter() - started)

            await asyncio.gather(*(one() for _ in range(concurrency)))  # every connection open first
            samples.seconds.clear()
            cpu, started = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            samples.wall_seconds, samples.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu

    failed: list[BaseException] = []
    # Its own event loop in its own thread: a notebook's kernel already runs one in this thread.
    worker = threading.Thread(target=lambda: _remember_failure(failed, asyncio.run, run()),
                              name="lesson-concurrent-gets", daemon=True)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return samples


def _remember_failure(failed: list, call: Any, *arguments: Any) -> None:
    try:
        call(*arguments)
    except BaseException as exc:  # handed to the caller's thread
        failed.append(exc)


def post_with_lost_answer(api: httpx.Client, door: Any, path: str, json: Any,
                          headers: Mapping[str, str] | None = None, wait_s: float = 0.5) -> str:
    """POST through a chaos proxy (`door`) that holds back the answer: the server does the work, the
    client times out after `wait_s` and never learns the outcome. Returns what the client saw."""
    args.positive_seconds("wait_s", wait_s, 30)
    with door.toxic("timeout", timeout=0):  # downstream: the request goes through, the answer does not
        try:
            response = api.post(path, json=json, headers=dict(headers or {}), timeout=wait_s)
        except httpx.TimeoutException as exc:
            return type(exc).__name__
    return f"answered {response.status_code}"
