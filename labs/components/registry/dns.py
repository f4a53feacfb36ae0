"""DNS names for registered services: `labs.start("dns")`, a small DNS server built on the registry.

Layer: components. One idea: the registry answered in DNS, as a cluster's DNS does.

    lab = labs.start("dns", options={"dns": {"ttl": 3}})
    lab.endpoint("dns")   # {"udp": "127.0.0.1:P"}: answers for names in ZONE, default.svc.cluster.local

For every service with instances under /services/<service>/ in etcd it answers, with the record TTL
given as the option "ttl" (seconds):

    concerts.default.svc.cluster.local              A    127.0.0.1 (once per distinct host)
    _http._tcp.concerts.default.svc.cluster.local   SRV  0 10 <port> <instance>.concerts.default.svc.cluster.local
    _grpc._tcp.concerts.default.svc.cluster.local   SRV  ... the gRPC ports
    <instance>.concerts.default.svc.cluster.local   A    127.0.0.1

Every instance here listens on 127.0.0.1, so the A records cannot tell them apart; the SRV records
carry the ports (Kubernetes answers SRV for a service's named ports the same way). UDP on loopback,
built with dnslib (the server: dns_server.py); each query reads the registry afresh, so any
staleness is the client's cache.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ...runtime import args
from ...runtime.component import ComponentSpec, register
from ...runtime.ports import HOST
from ...runtime.process import ProcessSpec

ZONE = "default.svc.cluster.local"
TTL_RANGE = (0, 300)


def check_ttl(ttl) -> int:
    return args.whole("ttl (seconds a resolver may keep an answer)", ttl, *TTL_RANGE)


def instance_label(netloc: str) -> str:
    """'127.0.0.1:8001' -> '127-0-0-1-8001', a valid DNS label."""
    return netloc.replace(".", "-").replace(":", "-")


class Dns(ComponentSpec):
    name = "dns"
    summary = "DNS (A and SRV) for the services registered in etcd, on a loopback UDP port"
    port_names = ("dns",)
    requires = ("etcd",)
    start_timeout = 15.0
    defaults = {"ttl": 3}

    def validate_options(self, options: dict) -> dict:
        merged = super().validate_options(options)
        check_ttl(merged["ttl"])
        return merged

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        return [ProcessSpec([sys.executable, "-m", "labs.components.registry.dns_server", str(ports["dns"]),
                             "--ttl", str(options["ttl"])], env={"PYTHONUNBUFFERED": "1"},
                            cwd=str(data_dir), stop_timeout=3)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        return {"udp": f"{HOST}:{ports['dns']}"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import dns.message
        import dns.query
        import dns.rcode
        # A real question over UDP; "no such name" is an answer too.
        query = dns.message.make_query(f"probe.{ZONE}", "A")
        host, port = endpoint["udp"].rsplit(":", 1)
        answer = dns.query.udp(query, host, port=int(port), timeout=1)
        if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise ConnectionError(f"the DNS server answered {dns.rcode.to_text(answer.rcode())}")


DNS = register(Dns())
