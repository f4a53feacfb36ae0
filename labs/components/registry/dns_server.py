"""The lab's DNS server: answers for *.default.svc.cluster.local from the etcd registry (dnslib).

Layer: components (runs as the process of the `dns` component; what it answers: dns.py).

    python -m labs.components.registry.dns_server PORT --ttl 3    # etcd's address in LABS_DEPENDENCIES
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from urllib.parse import urlsplit

from ...runtime.ports import HOST
from .dns import ZONE, check_ttl, instance_label


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


def main(argv: list[str] | None = None) -> None:
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
