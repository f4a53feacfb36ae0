"""The control API: Toxiproxy's HTTP endpoints (plus the lab's), on h11 over asyncio streams.

    api = Api(ProxyCollection(seed=None))
    server = await asyncio.start_server(api.handle, "127.0.0.1", 8474)   # server.py does this
    # then any Toxiproxy client:  curl -X POST 127.0.0.1:8474/proxies -d '{"name": ..., "upstream": ...}'

One idea: HTTP in, proxy-collection calls out. Toxiproxy's API: GET/POST /proxies, POST /populate,
GET/POST/DELETE /proxies/{proxy}, GET/POST /proxies/{proxy}/toxics, GET/POST/DELETE
/proxies/{proxy}/toxics/{toxic}, POST /reset, GET /version. Status codes as Toxiproxy's: 201 for
a new proxy, 200 for a new toxic (what its clients check), 204 for a delete or reset, 404
unknown, 405 a method the path does not take, 409 duplicate name, 400 bad input with
{"error": ..., "status": ...} naming the allowed range. Lab extensions: GET /health,
GET /proxies/{proxy}/stats, GET/DELETE /proxies/{proxy}/capture.

Why h11 and not Starlette under uvicorn: h11 (a dependency of httpx, so already installed) does
the HTTP/1.1 parsing (framing, chunked bodies, keep-alive, 100-continue) and nothing else, so
the API runs as one more asyncio.start_server on the event loop that moves the proxies' bytes,
with no framework, lifespan or signal handling to fit in, and it imports in milliseconds.

Layer: components.
"""
from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

import h11

from .collection import ProxyCollection
from .proxy import ApiError

VERSION = "2.9.0"  # the Toxiproxy API version this server follows
READ = 1 << 16

Handler = Callable[..., Awaitable[tuple[int, Any]]]


class Api:
    def __init__(self, proxies: ProxyCollection):
        self.proxies = proxies
        # path template -> {method: handler}; a {name} segment is passed to the handler by that name
        self.routes: list[tuple[list[str], dict[str, Handler]]] = [(template.split("/"), methods) for template, methods in {
            "health": {"GET": self.health},
            "version": {"GET": self.version},
            "reset": {"POST": self.reset},
            "populate": {"POST": self.populate},
            "proxies": {"GET": self.proxy_index, "POST": self.proxy_create},
            "proxies/{proxy}": {"GET": self.proxy_show, "POST": self.proxy_update, "PATCH": self.proxy_update,
                                "DELETE": self.proxy_delete},
            "proxies/{proxy}/toxics": {"GET": self.toxic_index, "POST": self.toxic_create},
            "proxies/{proxy}/toxics/{toxic}": {"GET": self.toxic_show, "POST": self.toxic_update,
                                               "PATCH": self.toxic_update, "DELETE": self.toxic_delete},
            "proxies/{proxy}/stats": {"GET": self.stats},
            "proxies/{proxy}/capture": {"GET": self.capture, "DELETE": self.capture_clear},
        }.items()]

    # --- endpoints -----------------------------------------------------------------------------
    async def health(self, body: Any) -> tuple[int, Any]:
        return 200, {"status": "ok", "proxies": len(self.proxies.proxies)}

    async def version(self, body: Any) -> tuple[int, Any]:
        return 200, {"version": VERSION, "server": "labs chaos"}

    async def reset(self, body: Any) -> tuple[int, Any]:
        await self.proxies.reset()
        return 204, None

    async def populate(self, body: Any) -> tuple[int, Any]:
        return 201, {"proxies": [p.to_json() for p in await self.proxies.populate(body)]}

    async def proxy_index(self, body: Any) -> tuple[int, Any]:
        return 200, {name: p.to_json() for name, p in self.proxies.proxies.items()}

    async def proxy_create(self, body: Any) -> tuple[int, Any]:
        return 201, (await self.proxies.create(body)).to_json()

    async def proxy_show(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).to_json()

    async def proxy_update(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, (await self.proxies.update(proxy, body)).to_json()

    async def proxy_delete(self, body: Any, proxy: str) -> tuple[int, Any]:
        await self.proxies.delete(proxy)
        return 204, None

    async def toxic_index(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, [t.to_json() for t in self.proxies.get(proxy).toxics.values()]

    async def toxic_create(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).add_toxic(body).to_json()

    async def toxic_show(self, body: Any, proxy: str, toxic: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).get_toxic(toxic).to_json()

    async def toxic_update(self, body: Any, proxy: str, toxic: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).update_toxic(toxic, body).to_json()

    async def toxic_delete(self, body: Any, proxy: str, toxic: str) -> tuple[int, Any]:
        self.proxies.get(proxy).remove_toxic(toxic)
        return 204, None

    async def stats(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).stats_json()

    async def capture(self, body: Any, proxy: str) -> tuple[int, Any]:
        return 200, self.proxies.get(proxy).capture_json()

    async def capture_clear(self, body: Any, proxy: str) -> tuple[int, Any]:
        self.proxies.get(proxy).captures.clear()
        return 204, None

    # --- routing -------------------------------------------------------------------------------
    def route(self, method: str, target: str) -> tuple[Handler, dict[str, str]]:
        path = target.split("?", 1)[0]
        parts = [unquote(p) for p in path.split("/") if p]  # names may hold spaces (%20)
        for template, methods in self.routes:
            if len(template) != len(parts):
                continue
            params = {}
            for want, got in zip(template, parts):
                if want.startswith("{"):
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if method not in methods:
                    raise ApiError(405, f"{method} is not allowed on {path}; allowed: {', '.join(methods)}")
                return methods[method], params
        raise ApiError(404, f"no such endpoint: {path}")

    async def answer(self, method: str, target: str, raw: bytes) -> tuple[int, Any]:
        """(status, JSON payload or None) for one request; errors become {"error", "status"}."""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            return 400, {"error": f"the body is not JSON: {exc}", "status": 400}
        try:
            handler, params = self.route(method, target)
            return await handler(body, **params)
        except ApiError as exc:
            return exc.status, {"error": str(exc), "status": exc.status}
        except Exception as exc:  # a bug: answer rather than drop the connection
            return 500, {"error": repr(exc), "status": 500}

    # --- HTTP/1.1 (h11 parses, this loop feeds it) -----------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection: requests in turn, kept alive until either side closes."""
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._next(conn, reader)
                if not isinstance(request, h11.Request):
                    break  # the client closed between requests
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")))
                raw = bytearray()
                while isinstance(event := await self._next(conn, reader), h11.Data):
                    raw += event.data
                if not isinstance(event, h11.EndOfMessage):
                    break
                status, payload = await self.answer(request.method.decode("ascii").upper(),
                                                    request.target.decode("latin-1"), bytes(raw))
                self._respond(conn, writer, status, payload)
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break  # h11 decided the connection closes (Connection: close, HTTP/1.0)
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:  # not HTTP: say so once if a response can still go out
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                self._respond(conn, writer, status, {"error": f"bad HTTP request: {exc}", "status": status})
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    @staticmethod
    async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ))  # b"" at EOF: h11 then reports ConnectionClosed
        return event

    @staticmethod
    def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        data = b"" if status == 204 or payload is None else json.dumps(payload).encode()
        headers = [] if status == 204 else [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        out = conn.send(h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase))
        if data:
            out += conn.send(h11.Data(data=data))
        out += conn.send(h11.EndOfMessage())
        writer.write(out)
