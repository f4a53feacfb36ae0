"""Register one address in etcd with a lease and keep it alive until killed: a process that is
nothing but an instance's registration (lesson 07 kills a few at once to time their removal).

Layer: components.

    python -m labs.components.registry.registrant http://127.0.0.1:2379 demo http://127.0.0.1:9 --ttl 2

It says {"event": "registered", "key": ..., "ttl": ..., "lease": ...} on stdout (labs.runtime.child);
SIGTERM deregisters first, SIGKILL leaves the key to its lease.
"""
from __future__ import annotations

import argparse
import os
import signal
import time

from ...runtime.child import say
from .agent import Registration


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Register an address in etcd with a lease, until killed.")
    parser.add_argument("etcd", help="etcd client URL, e.g. http://127.0.0.1:2379")
    parser.add_argument("service")
    parser.add_argument("http", help="the address to register, e.g. http://127.0.0.1:9")
    parser.add_argument("--ttl", type=int, default=5)
    options = parser.parse_args(argv)
    reg = Registration(options.etcd, options.service, {"http": options.http}, options.ttl).start()
    signal.signal(signal.SIGTERM, lambda *_: (reg.close(), say("deregistered"), os._exit(0)))
    say("registered", key=reg.key, ttl=reg.ttl, lease=reg.lease.id)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
