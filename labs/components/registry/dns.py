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
built with dnslib; each query reads the registry afresh, so any staleness is the client's cache.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

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


class RegistryResolver:
    """dnslib's resolver interface (`resolve(request, handler)`), answering from etcd."""

    def __init__(self, etcd_url: str, ttl: int):
        from .agent import etcd_client
        self.etcd, self.ttl = etcd_client(etcd_url), ttl

    def instances(self, service: str) -> list[dict]:
        found = []
        for value, _meta in self.etcd.get_prefix(f"/services/{service}/"):
            found.append(json.loads(value))
        return found

    def resolve(self, request, handler):
        from dnslib import QTYPE, RCODE, RR, SRV, A, DNSLabel

        reply = request.reply()
        qname = request.q.qname
        labels = [label.decode().lower() for label in qname.label]
        zone = ZONE.split(".")
        if labels[-len(zone):] != zone or len(labels) < len(zone) + 1:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        head = labels[:-len(zone)]  # [service], [_http, _tcp, service] or [instance, service]
        service = head[-1]
        try:
            instances = self.instances(service)
        except Exception:
            reply.header.rcode = RCODE.SERVFAIL  # the registry does not answer
            return reply
        name = lambda *parts: DNSLabel(".".join([*parts, ZONE]))
        qtype = QTYPE[request.q.qtype]
        if len(head) == 3 and head[0] in ("_http", "_grpc") and head[1] == "_tcp":
            kind = head[0][1:]
            for inst in instances:
                if kind not in inst:
                    continue
                netloc = urlsplit(inst[kind] if "//" in inst[kind] else "//" + inst[kind]).netloc
                host, port = netloc.rsplit(":", 1)
                target = name(instance_label(urlsplit(inst["http"]).netloc), service)
                if qtype in ("SRV", "ANY"):
                    reply.add_answer(RR(qname, QTYPE.SRV, ttl=self.ttl, rdata=SRV(0, 10, int(port), target)))
                    reply.add_ar(RR(target, QTYPE.A, ttl=self.ttl, rdata=A(host)))
        elif len(head) == 1 and qtype in ("A", "ANY"):
            for host in sorted({urlsplit(inst["http"]).hostname for inst in instances}):
                reply.add_answer(RR(qname, QTYPE.A, ttl=self.ttl, rdata=A(host)))
        elif len(head) == 2 and qtype in ("A", "ANY"):
            for inst in instances:
                if instance_label(urlsplit(inst["http"]).netloc) == head[0]:
                    reply.add_answer(RR(qname, QTYPE.A, ttl=self.ttl, rdata=A(urlsplit(inst["http"]).hostname)))
        if not reply.rr and not instances:
            reply.header.rcode = RCODE.NXDOMAIN  # no such service (or none of it is registered)
        return reply


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
        return [ProcessSpec([sys.executable, "-m", "labs.components.registry.dns", str(ports["dns"]),
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


def main(argv: list[str] | None = None) -> None:
    import argparse

    from dnslib.server import DNSLogger, DNSServer

    parser = argparse.ArgumentParser(description="DNS answers from the etcd registry, on 127.0.0.1 (UDP)")
    parser.add_argument("port", type=int)
    parser.add_argument("--ttl", type=int, default=3)
    options = parser.parse_args(argv)
    etcd_url = json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}").get("etcd", {}).get("url")
    if not etcd_url:
        sys.exit("the DNS server needs etcd's address in LABS_DEPENDENCIES; start it with labs.start('dns')")
    resolver = RegistryResolver(etcd_url, check_ttl(options.ttl))
    server = DNSServer(resolver, port=options.port, address=HOST, logger=DNSLogger("-request,-reply,-truncated"))
    server.start_thread()
    print(f"answering *.{ZONE} on udp://{HOST}:{options.port} from {etcd_url}, ttl {options.ttl} s", flush=True)
    while server.isAlive():
        time.sleep(1)


if __name__ == "__main__":
    main()
