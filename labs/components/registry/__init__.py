"""Lesson 07's parts: a registry (etcd), instances that register with a lease (agent), a proxy that
follows the registry (haproxy + pool_sync) and DNS names built from it (dns + dns_server).

    etcd        labs.start("etcd"): the registry              agent       an instance's lease and keep-alive
    haproxy     labs.start("haproxy"): server-side discovery  registrant  one registration as a process
    dns         labs.start("dns"): A and SRV records          pool_sync   registry -> HAProxy's server slots
    dns_server  the DNS server process (dnslib)

Layer: components.
"""
