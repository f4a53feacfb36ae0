"""A TLS sidecar: encrypt the hop to a plain-HTTP service, the way a service mesh's proxy does.

    sidecar = tls.sidecar(lab.endpoint("users")["http"])   # TLS on a new loopback port
    httpx.Client(base_url=sidecar.url, verify=sidecar.client_context())

The lab's services speak plain HTTP. In production the encryption is often not in the service
either: a sidecar next to it terminates TLS (Envoy in Istio or Linkerd). This one runs on a
daemon thread of the kernel (so it dies with it), binds 127.0.0.1 only, and uses a certificate
from a throwaway certificate authority made by `trustme`.

Written here because no maintained Python package offers an in-process TLS-terminating TCP relay
(stunnel and Envoy are separate binaries that Binder cannot install).

Layer: tools.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from urllib.parse import urlsplit

import trustme

__all__ = ["Sidecar", "sidecar"]

_authority: trustme.CA | None = None


def _ca() -> trustme.CA:
    global _authority
    if _authority is None:
        _authority = trustme.CA(organization_name="MSA Communication Lab (throwaway)")
    return _authority


class Sidecar:
    """TLS in on `address`, plain TCP out to `upstream`."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream if "://" in upstream else f"tcp://{upstream}")
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be 'host:port' or a URL with a port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.connections = 0
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        _ca().issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(server_context, ready), name="labs-tls-sidecar",
                         daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the TLS sidecar did not start within 10 s")

    def _run(self, context: ssl.SSLContext, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=context))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(OSError, ssl.SSLError):
                writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the sidecar's certificate authority (pass as httpx's verify=)."""
        context = ssl.create_default_context()
        _ca().configure_trust(context)
        return context

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            self._loop.stop()
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(stop)

    def __repr__(self) -> str:
        return f"<TLS sidecar {self.address} -> {self.upstream[0]}:{self.upstream[1]}>"


def sidecar(upstream: str) -> Sidecar:
    """A TLS sidecar in front of `upstream` ("host:port" or a URL such as a service's http endpoint)."""
    return Sidecar(upstream)
