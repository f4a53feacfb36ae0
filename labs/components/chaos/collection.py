"""The proxies a `chaos` server holds, by name: create, update, delete, populate, reset.

    proxies = ProxyCollection(seed=None)
    proxy = await proxies.create({"name": "users", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:8001"})
    await proxies.update("users", {"enabled": False})    # down: refuse and cut connections
    await proxies.populate([{"name": "users", ...}])      # create; replace only where listen/upstream differ
    await proxies.reset()                                 # every proxy enabled, every toxic gone

One idea: the proxy fields and what changing them does, as Toxiproxy's proxy_collection.go does
it: a new `upstream` or `listen` port restarts the proxy (dropping its connections), `enabled`
takes it down or up on the same port. Every field is checked with an error naming what is
allowed; a listener may only be on 127.0.0.1 (the lab binds loopback only).

Layer: components.
"""
from __future__ import annotations

from typing import Any

from .proxy import CAPTURE_BYTES, HOST, ApiError, Proxy, split_addr

PROXY_FIELDS = ("name", "listen", "upstream", "enabled", "toxics", "seed", "capture_bytes")
_LOCAL_NAMES = {"127.0.0.1", "localhost", "0.0.0.0", "", "[::]", "::", "[::1]", "::1"}


def _check_seed(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise ApiError(400, f"seed must be an integer, a string or null, got {value!r}")
    return value


def _check_capture(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 20:
        raise ApiError(400, f"capture_bytes must be an integer in 0..1048576, got {value!r}")
    return value


def _check_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ApiError(400, f"enabled must be true or false, got {value!r}")
    return value


def _listen(value: Any) -> tuple[str, int]:
    host, port = split_addr(value, "listen")
    if host not in _LOCAL_NAMES:  # a wildcard or localhost name becomes 127.0.0.1
        raise ApiError(400, f"listen must be on 127.0.0.1 (the lab binds loopback only), got {value!r}")
    return HOST, port


class ProxyCollection:
    def __init__(self, seed: Any = None):
        self.seed = seed  # the server's --seed: seeds every proxy that has no seed of its own
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, f"proxy {name!r} not found") from None

    async def create(self, body: Any) -> Proxy:
        proxy, enabled = self._build(body, refuse_existing=True)
        if enabled:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    def _build(self, body: Any, refuse_existing: bool = False) -> tuple[Proxy, bool]:
        """A proxy from a create or populate body, checked but not listening yet, and its `enabled`."""
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with name, listen and upstream")
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise ApiError(400, f"name must be a non-empty string without '/', got {name!r}")
        if refuse_existing and name in self.proxies:
            raise ApiError(409, f"proxy {name!r} already exists")
        unknown = set(body) - set(PROXY_FIELDS)
        if unknown:
            raise ApiError(400, f"unknown proxy field {sorted(unknown)[0]!r}; fields: name, listen, upstream, "
                                "enabled, seed, capture_bytes")
        listen = _listen(body.get("listen", f"{HOST}:0"))
        enabled = _check_enabled(body.get("enabled", True))
        proxy = Proxy(self, name, listen, body.get("upstream"), _check_seed(body.get("seed")),
                      _check_capture(body.get("capture_bytes", CAPTURE_BYTES)))
        return proxy, enabled

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        restart = False
        if "upstream" in body and body["upstream"] != proxy.upstream:
            proxy.upstream_addr = split_addr(body["upstream"], "upstream")
            proxy.upstream = body["upstream"]
            restart = True
        if "listen" in body:
            _, port = _listen(body["listen"])
            if port and port != proxy.listen_port:
                proxy.listen_port = port
                restart = True
        if "seed" in body:
            proxy.seed = _check_seed(body["seed"])
            proxy.next_index = 0  # the schedule starts again from connection 0
        if "capture_bytes" in body:
            proxy.capture_bytes = _check_capture(body["capture_bytes"])
        enabled = _check_enabled(body.get("enabled", proxy.enabled))
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
            proxy.reset_toxics()
            await proxy.start()

    async def populate(self, body: Any) -> list[Proxy]:
        """Create each proxy, or replace the one of that name if its listen or upstream differs.

        As Toxiproxy: a proxy whose fields match is left untouched (its connections and toxics
        stay), so calling populate again at every start is safe; all items are checked first.
        """
        items = body.get("proxies") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise ApiError(400, "expected a JSON array of proxies")
        built = [self._build(item) for item in items]  # a bad item anywhere changes nothing
        out = []
        for proxy, enabled in built:
            old = self.proxies.get(proxy.name)
            if old is not None and old.upstream == proxy.upstream and old.listen_port == proxy.listen_port:
                out.append(old)
                continue
            if old is not None:
                await self.delete(old.name)
            if enabled:
                await proxy.start()
            self.proxies[proxy.name] = proxy
            out.append(proxy)
        return out
