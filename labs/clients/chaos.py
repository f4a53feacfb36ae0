"""Break the network on purpose: put a fault-injecting proxy in front of a component.

    from labs import chaos
    users = chaos.proxy(lab, "users")            # in front of users' HTTP port ("grpc": port_key="grpc")
    users.address                                # "127.0.0.1:P": call the service through here
    api = httpx.Client(base_url=users.url_for())  # users.endpoint == {"http": "http://127.0.0.1:P"}
    with users.toxic("latency", latency=100):    # removed again on exit, also on an exception
        api.get("/users/1")
    users.add("reset_peer", timeout=0, toxicity=0.3)   # 30% of new connections are reset
    users.disable(); users.enable()              # the link goes down / comes back
    users.stats(); users.capture()               # bytes and connections; what crossed in plaintext
    with chaos.paused(lab, "redis"): ...         # the whole component frozen (docker pause / SIGSTOP)
    with chaos.disconnected(lab, "redis"): ...   # LABS_BACKEND=docker: off its network (container_faults)

The proxies run in the lab's `chaos` component (started on demand), a userspace TCP proxy that speaks
Toxiproxy's HTTP API. `chaos.ToxiproxyClient(url)` drives any Toxiproxy-compatible API with the same
methods, e.g. the real Toxiproxy of the Docker backend (stats() and capture() are lab extensions).

Toxics (Toxiproxy's names; `stream` is "downstream" (server to client, the default) or "upstream"):
latency (latency, jitter ms), bandwidth (rate KB/s), slow_close (delay ms), timeout (timeout ms;
0 holds data until removed), reset_peer (timeout ms), slicer (average_size, size_variation bytes,
delay us), limit_data (bytes). `toxicity` (0..1) is the share of connections a toxic applies to.

A proxy is a TCP hop: clients that learn other addresses from the server (Kafka's advertised
listeners, a RabbitMQ cluster) connect there directly after the first exchange.

Layer: clients.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx

from ..components.chaos.toxics import TOXICS, BadToxic, check_attributes, check_stream, check_toxicity, describe
from ..runtime import LabError, start
from .container_faults import disconnected, paused  # Docker-native faults, beside the proxy's

__all__ = ["ChaosError", "Proxy", "ToxiproxyClient", "TOXICS", "describe", "disconnected", "paused", "proxy",
           "server"]

# The endpoint keys a proxy can stand in front of, in the order tried when none is named.
PORT_KEYS = ("http", "grpc", "amqp", "url", "bootstrap")


class ChaosError(LabError):
    """The chaos API refused a request (the message is its explanation) or could not be reached."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ToxiproxyClient:
    """A client for Toxiproxy's HTTP API (the lab's `chaos` component or the real Toxiproxy)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8474", timeout: float = 5.0):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// URL like 'http://127.0.0.1:8474', got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def request(self, method: str, path: str, json: Any = None, extension: str | None = None) -> Any:
        try:
            r = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ChaosError(f"cannot reach the chaos API at {self.base_url}: {exc}") from exc
        if r.status_code >= 400:
            try:
                message = r.json().get("error") or r.text
            except ValueError:
                message = r.text.strip()
            if extension and r.status_code in (404, 405) and "proxy" not in str(message).lower():
                message = f"{extension} is a lab extension that {self.base_url} does not offer ({message})"
            raise ChaosError(f"{method} {path}: {message}", r.status_code)
        if r.status_code == 204 or not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return r.text

    def version(self) -> str:
        got = self.request("GET", "/version")
        return got.get("version", str(got)) if isinstance(got, dict) else str(got).strip()

    def proxies(self) -> dict[str, "Proxy"]:
        return {name: Proxy(self, name, info) for name, info in self.request("GET", "/proxies").items()}

    def get(self, name: str) -> "Proxy":
        return Proxy(self, name, self.request("GET", f"/proxies/{name}"))

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True,
               **extra: Any) -> "Proxy":
        """A new proxy; `extra` may hold the lab's `seed` or `capture_bytes` (not for the real Toxiproxy)."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled, **extra}
        return Proxy(self, name, self.request("POST", "/proxies", json=body))

    def ensure(self, name: str, upstream: str, listen: str = "127.0.0.1:0", **extra: Any) -> "Proxy":
        """The proxy `name` to `upstream`, enabled and without toxics: created, or reused as it is (so a
        notebook cell can run twice); its listen address stays the same."""
        try:
            info = self.request("GET", f"/proxies/{name}")
        except ChaosError as exc:
            if exc.status != 404:
                raise
            return self.create(name, upstream, listen, **extra)
        p = Proxy(self, name, info)
        p.clear()
        p.update(upstream=upstream, enabled=True, **extra)
        return p

    def delete(self, name: str) -> None:
        self.request("DELETE", f"/proxies/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.request("POST", "/reset")

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.base_url!r})"


class Proxy:
    """One proxy: where to connect instead of the real address, and the faults on the way."""

    def __init__(self, client: ToxiproxyClient, name: str, info: dict | None = None,
                 endpoint: dict[str, str] | None = None, port_key: str | None = None):
        self.client, self.name = client, name
        self._info = info or {}
        self._original = endpoint or {}
        self.port_key = port_key

    # --- where to connect -------------------------------------------------------------------
    def info(self) -> dict:
        """The proxy as the API shows it: name, listen, upstream, enabled, toxics."""
        self._info = self.client.request("GET", f"/proxies/{self.name}")
        return self._info

    @property
    def address(self) -> str:
        """"127.0.0.1:P", the proxy's listening address."""
        listen = self._info.get("listen") or self.info()["listen"]
        host, _, port = listen.rpartition(":")
        return f"{'127.0.0.1' if host in ('', '[::]', '0.0.0.0', 'localhost') else host}:{port}"

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def upstream(self) -> str:
        return self._info.get("upstream") or self.info()["upstream"]

    @property
    def endpoint(self) -> dict[str, str]:
        """The component's endpoint entry for the proxied key, pointing at the proxy instead."""
        if not self._original:
            return {"address": self.address}
        return {self.port_key: _swap_address(self._original[self.port_key], self.address)}

    def url_for(self, key: str | None = None) -> str:
        """The proxied address in the form of the component's endpoint (URL or host:port)."""
        key = key or self.port_key
        if self._original and key != self.port_key:
            raise ChaosError(f"this proxy stands in front of {self.port_key!r} only; for {key!r} make another: "
                             f"chaos.proxy(lab, ..., port_key={key!r})")
        return self.endpoint[key] if self._original else self.address

    # --- up and down ------------------------------------------------------------------------
    def update(self, **fields: Any) -> dict:
        self._info = self.client.request("POST", f"/proxies/{self.name}", json=fields)
        return self._info

    def disable(self) -> None:
        """Take the link down: the port refuses connections and open connections are cut."""
        self.update(enabled=False)

    def enable(self) -> None:
        self.update(enabled=True)

    @property
    def enabled(self) -> bool:
        return bool(self.info()["enabled"])

    @contextlib.contextmanager
    def down(self) -> Iterator["Proxy"]:
        """`with proxy.down(): ...` the link is down inside the block, up again after it."""
        self.disable()
        try:
            yield self
        finally:
            self.enable()

    def delete(self) -> None:
        self.client.delete(self.name)

    # --- toxics -----------------------------------------------------------------------------
    def add(self, type: str, stream: str = "downstream", toxicity: float = 1.0, name: str | None = None,
            **attributes: Any) -> dict:
        """Add a toxic, e.g. add("latency", latency=100, jitter=10); returns it as the API shows it."""
        try:
            check_attributes(type, attributes)
            check_stream(stream)
            toxicity = check_toxicity(toxicity)
        except BadToxic as exc:
            raise ValueError(str(exc)) from None
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"name must be a non-empty string without '/', got {name!r}")
        body = {"name": name or f"{type}_{stream}", "type": type, "stream": stream, "toxicity": toxicity,
                "attributes": attributes}
        return self.client.request("POST", f"/proxies/{self.name}/toxics", json=body)

    def update_toxic(self, name: str, toxicity: float | None = None, **attributes: Any) -> dict:
        current = self.client.request("GET", f"/proxies/{self.name}/toxics/{name}")
        try:
            check_attributes(current["type"], attributes, current.get("attributes") or {})
            body: dict[str, Any] = {"attributes": attributes}
            if toxicity is not None:
                body["toxicity"] = check_toxicity(toxicity)
        except BadToxic as exc:
            raise ValueError(str(exc)) from None
        return self.client.request("POST", f"/proxies/{self.name}/toxics/{name}", json=body)

    def remove(self, name: str) -> None:
        self.client.request("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def toxics(self) -> list[dict]:
        return self.client.request("GET", f"/proxies/{self.name}/toxics")

    def clear(self) -> None:
        """Remove every toxic of this proxy."""
        for t in self.toxics():
            self.remove(t["name"])

    @contextlib.contextmanager
    def toxic(self, type: str, stream: str = "downstream", toxicity: float = 1.0, name: str | None = None,
              **attributes: Any) -> Iterator[dict]:
        """`with proxy.toxic("latency", latency=100): ...` the toxic applies inside the block only."""
        added = self.add(type, stream=stream, toxicity=toxicity, name=name, **attributes)
        try:
            yield added
        finally:
            with contextlib.suppress(ChaosError):
                self.remove(added["name"])

    # --- lab extensions ---------------------------------------------------------------------
    def stats(self) -> dict:
        """Connections (total, active), bytes_upstream / bytes_downstream, resets, timeouts, refused."""
        return self.client.request("GET", f"/proxies/{self.name}/stats", extension="stats()")

    def capture(self) -> list[dict]:
        """The last connections, newest last, each with the first bytes of both directions
        (`upstream`/`downstream` -> {"bytes", "text", "base64"})."""
        return self.client.request("GET", f"/proxies/{self.name}/capture", extension="capture()")["connections"]

    def clear_capture(self) -> None:
        self.client.request("DELETE", f"/proxies/{self.name}/capture", extension="clear_capture()")

    def seed(self, seed: int | str | None) -> None:
        """Seed the fault schedule and restart it: the same seed gives the same faults per connection."""
        self.update(seed=seed)

    def __repr__(self) -> str:
        return f"<chaos proxy {self.name}: {self.address} -> {self._info.get('upstream', '?')}>"


def _split(value: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL or a "host:port" (the first of a comma-separated list)."""
    if "://" in value:
        parts = urlsplit(value)
        if parts.port is None:
            raise ChaosError(f"{value!r} names no port to put a proxy in front of")
        return parts.scheme, parts.hostname or "127.0.0.1", parts.port
    host, _, port = value.split(",")[0].rpartition(":")
    if not port.isdigit():
        raise ChaosError(f"{value!r} is not host:port")
    return "", host, int(port)


def _swap_address(value: str, address: str) -> str:
    if "://" in value:
        parts = urlsplit(value)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{address}" if userinfo else address
        return parts._replace(netloc=netloc).geturl()
    return address


def server() -> ToxiproxyClient:
    """A client for this kernel's `chaos` server (started if it is not running). It always runs
    locally: the Docker backend publishes its components on 127.0.0.1 too."""
    lab = start("chaos", backend="local", progress=False)
    return ToxiproxyClient(lab.endpoint("chaos")["http"])


def proxy(lab, component: str, port_key: str | None = None, name: str | None = None,
          seed: int | str | None = None, listen: str = "127.0.0.1:0") -> Proxy:
    """A proxy in front of `component` of `lab` (started with labs.start), on a new loopback port.

    port_key picks the endpoint entry: "http" or "grpc" for the lab's services (default "http"),
    "amqp" (rabbitmq), "url" (redis), "bootstrap" (kafka). Calling it again with the same
    component and key reuses the proxy (same port, toxics removed, enabled). `seed` makes the
    fault schedule (toxicity draws, jitter) repeat connection by connection.
    """
    if not isinstance(component, str):
        raise ValueError(f"component must be a component name like 'users', got {component!r}")
    endpoint = lab.endpoint(component)
    keys = [k for k in PORT_KEYS if k in endpoint]
    if port_key is None:
        if not keys:
            raise ChaosError(f"{component} has no endpoint a TCP proxy can stand in front of: {endpoint}")
        port_key = keys[0]
    elif port_key not in endpoint:
        raise ValueError(f"{component} has no endpoint {port_key!r}; choose from: {', '.join(endpoint)}")
    _, host, port = _split(endpoint[port_key])
    client = server()
    extra = {"seed": seed} if seed is not None else {}
    p = client.ensure(name or f"{component}-{port_key}", f"{host}:{port}", listen=listen, **extra)
    return Proxy(client, p.name, p._info, endpoint={port_key: endpoint[port_key]}, port_key=port_key)
