"""The `chaos` server: TCP proxies that break the network on purpose, driven by Toxiproxy's HTTP API.

    python -m labs.components.chaos --host 127.0.0.1 --http-port 8474 [--seed 42]
    labs.start("chaos")                      # the same, as a lab component (component.py)

One idea: the wiring. One asyncio event loop runs the HTTP API (api.py) and every proxy's data
path (proxy.py, link.py, toxics/), so a toxic added through the API reaches the links at once and
the proxies add little latency. `--seed` seeds every proxy's fault schedule (a proxy's own `seed`
field wins). Every listener binds 127.0.0.1 only.

Semantics follow Toxiproxy: a toxic's `toxicity` is drawn once per connection (and toxic); latency
delays each chunk by latency +/- jitter without slowing throughput; bandwidth paces to `rate` KB/s;
timeout holds data and closes the connection after `timeout` ms (0: holds until removed);
reset_peer resets both sides after `timeout` ms; slow_close delays the close; slicer cuts chunks
into ~average_size pieces `delay` us apart; limit_data closes once `bytes` have passed.

Layer: components.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .api import Api
from .collection import ProxyCollection
from .proxy import HOST


async def serve(host: str, http_port: int, seed: Any = None) -> None:
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"chaos listens on 127.0.0.1 only, got --host {host}")
    api = Api(ProxyCollection(seed))
    server = await asyncio.start_server(api.handle, HOST, http_port, reuse_address=True)
    print(f"chaos: Toxiproxy-compatible API on http://{HOST}:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


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
