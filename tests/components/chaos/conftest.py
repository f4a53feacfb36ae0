"""An in-process `chaos` server (labs.components.chaos: Api over a ProxyCollection) and a TCP echo
server on one event loop, over real loopback sockets, for the tests of each chaos module.

    def test_something(chaos):
        async def body(c):
            p = await c.proxy({"type": "latency", "attributes": {"latency": 30}})
            reader, writer = await c.connect(p)
            assert (await c.http.get(f"/proxies/{p.name}")).status_code == 200
        chaos(body)                     # runs body(Chaos) in asyncio.run, then closes everything

tests/components/test_chaos.py drives the same server as a lab component (a process of its own).
"""
import asyncio
import socket
import time

import httpx
import pytest

from labs.components.chaos.api import Api
from labs.components.chaos.collection import ProxyCollection


class Chaos:
    def __init__(self, seed=None):
        self.proxies = ProxyCollection(seed)
        self.api = Api(self.proxies)
        self.count = 0

    async def __aenter__(self):
        self.echo = await asyncio.start_server(self._echo, "127.0.0.1", 0)
        self.echo_port = self.echo.sockets[0].getsockname()[1]
        self.server = await asyncio.start_server(self.api.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        return self

    async def __aexit__(self, *exc):
        await self.http.aclose()
        for name in list(self.proxies.proxies):
            await self.proxies.delete(name)
        self.server.close()
        self.echo.close()

    @staticmethod
    async def _echo(reader, writer):
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def proxy(self, *toxics, **fields):
        """A proxy in front of the echo server, with these toxics (Toxiproxy's JSON) added."""
        self.count += 1
        body = {"name": f"p{self.count}", "upstream": f"127.0.0.1:{self.echo_port}"} | fields
        p = await self.proxies.create(body)
        for toxic in toxics:
            p.add_toxic(toxic)
        return p

    @staticmethod
    async def connect(p):
        reader, writer = await asyncio.open_connection("127.0.0.1", p.listen_port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    @staticmethod
    async def round_trip(reader, writer, data=b"ping"):
        """Seconds to send `data` and read it back."""
        t = time.perf_counter()
        writer.write(data)
        assert await reader.readexactly(len(data)) == data
        return time.perf_counter() - t


@pytest.fixture
def chaos():
    def run(body, seed=None, timeout=30):
        async def main():
            async with Chaos(seed) as c:
                await asyncio.wait_for(body(c), timeout)
        asyncio.run(main())
    return run
