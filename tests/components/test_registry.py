"""Lesson 07's components: etcd, instances registering with leases, HAProxy following the registry,
DNS answers built from it."""
import json
import time

import dns.message
import dns.query
import dns.rcode
import pytest

import labs
from labs.clients import registry
from labs.components.registry.etcd import etcd_binary
from labs.lessons import discovery
from labs.runtime.child import Child
from labs.runtime.errors import LabError

SETUP = {"concerts": {"replicas": 2, "register_ttl": 2}}


@pytest.fixture(scope="module")
def lab():
    return labs.start("etcd", "concerts", "haproxy", "dns", options=SETUP, progress=False)


def test_etcd_is_small_quick_loopback_only_and_the_doctor_names_its_binary(lab):
    row = next(r for r in lab.status() if r["name"] == "etcd")
    assert row["ready_s"] < 10 and 5 < row["rss_mib"] < 100
    assert all(a.startswith("127.0.0.1:") for a in lab.listeners("etcd"))
    found = next(f for f in labs.doctor().findings if f.what.startswith("etcd"))
    path, origin = etcd_binary()
    assert found.ok and path in found.detail and origin in found.detail


def test_every_listener_of_the_lesson_binds_loopback(lab):
    for name in ("concerts", "haproxy", "dns"):
        assert all(a.startswith("127.0.0.1:") for a in lab.listeners(name)), name


def test_each_instance_registers_its_own_addresses_with_a_lease(lab):
    etcd = registry.connect(lab)
    rows = registry.instances(etcd, "concerts")
    assert sorted(r["http"] for r in rows) == sorted(r.endpoint["http"] for r in lab.replicas("concerts"))
    assert sorted(r["grpc"] for r in rows) == sorted(r.endpoint["grpc"] for r in lab.replicas("concerts"))
    assert all(r["lease"] and 0 < r["ttl_left"] <= 2 for r in rows)


def test_a_watched_pool_hears_puts_and_deletes(lab):
    etcd = registry.connect(lab)
    with registry.WatchedPool(etcd, "watch-test") as pool:
        assert pool.addresses() == []
        etcd.put("/services/watch-test/127.0.0.1:1", json.dumps({"http": "http://127.0.0.1:1"}))
        discovery.wait_until(lambda: pool.addresses() == ["http://127.0.0.1:1"], timeout=5)
        etcd.delete("/services/watch-test/127.0.0.1:1")
        discovery.wait_until(lambda: pool.addresses() == [], timeout=5)
        assert [kind for _, kind, _ in pool.changes] == ["PUT", "DELETE"]
        with pytest.raises(LookupError, match="no instance is registered under /services/watch-test/"):
            pool.next()


def test_haproxy_follows_the_registry(lab):
    etcd = registry.connect(lab)
    discovery.wait_until(lambda: len(registry.up_in_haproxy(lab)) == 2, timeout=10)
    expected = sorted(r.endpoint["http"].removeprefix("http://") for r in lab.replicas("concerts"))
    assert registry.up_in_haproxy(lab) == expected
    # a made-up instance that nothing serves: HAProxy takes it in, its checks mark it down
    lease = etcd.lease(ttl=10)
    etcd.put("/services/concerts/127.0.0.1:9", json.dumps({"http": "http://127.0.0.1:9"}), lease=lease)
    discovery.wait_until(lambda: any(r["address"] == "127.0.0.1:9" and r["state"] == "DOWN"
                                     for r in registry.haproxy_pool(lab)), timeout=10)
    lease.revoke()  # it leaves the registry: its slot goes into maintenance, out of the list
    discovery.wait_until(lambda: all(r["address"] != "127.0.0.1:9" for r in registry.haproxy_pool(lab)),
                         timeout=5)
    assert discovery.try_calls(lab.endpoint("haproxy")["http"], 20) == {"ok": 20}


def test_dns_answers_a_and_srv_from_the_registry_and_nxdomain_otherwise(lab):
    res = registry.resolver(lab, cache=False)
    srv = res.resolve("_http._tcp.concerts.default.svc.cluster.local", "SRV")
    assert sorted(r.port for r in srv) == sorted(int(r.endpoint["http"].rsplit(":", 1)[1])
                                                 for r in lab.replicas("concerts"))
    assert srv.rrset.ttl == 3  # the dns component's default
    grpc_srv = res.resolve("_grpc._tcp.concerts.default.svc.cluster.local", "SRV")
    assert sorted(r.port for r in grpc_srv) == sorted(int(r.endpoint["grpc"].rsplit(":", 1)[1])
                                                      for r in lab.replicas("concerts"))
    target = sorted(srv, key=lambda r: r.port)[0].target.to_text()
    assert [r.to_text() for r in res.resolve(target, "A")] == ["127.0.0.1"]
    host, port = lab.endpoint("dns")["udp"].rsplit(":", 1)
    for name in ("nothing.default.svc.cluster.local", "concerts.example.org"):
        answer = dns.query.udp(dns.message.make_query(name, "A"), host, port=int(port), timeout=2)
        assert answer.rcode() == dns.rcode.NXDOMAIN, name


def test_sigterm_deregisters_before_the_instance_stops_and_sigkill_does_not(lab):
    etcd = registry.connect(lab)
    one = lab.replicas("concerts")[0]
    removal, move = discovery.graceful_move(etcd, one)
    assert removal < 0.6 < move
    key = discovery.key_of(one)
    killed_at = discovery.kill(one)
    assert etcd.get(key)  # still listed right after the kill
    assert 1.0 < discovery.wait_removed(etcd, key, killed_at) < 3.5  # TTL 2
    one.start()
    assert etcd.get(discovery.key_of(one))


def test_the_registrant_process_registers_and_leaves_on_sigterm(lab):
    etcd = registry.connect(lab)
    child = Child("labs.components.registry.registrant", lab.endpoint("etcd")["url"], "agent-test",
                  "http://127.0.0.1:7", "--ttl", "5")
    key = child.wait_for("registered")["key"]
    assert key == "/services/agent-test/127.0.0.1:7" and etcd.get(key)
    child.stop()
    assert etcd.get(key) == []


def test_bad_ttls_are_refused_with_the_range(lab):
    with pytest.raises(ValueError, match=r"register_ttl \(a lease's time to live, in whole seconds\) must be "
                                         r"a whole number from 2 to 60, got 1"):
        labs.start("concerts", options={"concerts": {"replicas": 2, "register_ttl": 1}})
    with pytest.raises(ValueError, match="from 2 to 60, got 2.5"):
        labs.start("concerts", options={"concerts": {"register_ttl": 2.5}})
    with pytest.raises(ValueError, match="from 2 to 60, got 0"):
        registry.connect(lab).lease(ttl=0)
    with pytest.raises(ValueError, match="from 2 to 60, got 90"):
        discovery.removal_vs_ttl(lab, ttls=(2, 90))
    with pytest.raises(ValueError, match=r"ttl \(seconds a resolver may keep an answer\) must be a whole number "
                                         r"from 0 to 300, got -1"):
        labs.start("dns", options={"dns": {"ttl": -1}})
    with pytest.raises(LabError, match="haproxy has no option 'ttl'; options: health, service"):
        labs.start("haproxy", options={"haproxy": {"ttl": 3}})


def test_registering_pulls_in_etcd():
    from labs.runtime.lab import _with_requirements
    assert _with_requirements(("concerts",)) == ("concerts",)
    assert _with_requirements(("concerts",), {"concerts": {"register_ttl": 3}}) == ("etcd", "concerts")


def test_a_killed_registry_names_labs_start_and_comes_back_with_its_instances(lab):
    etcd = registry.connect(lab)
    before = sorted(r["key"] for r in registry.instances(etcd, "concerts"))
    lab.kill("etcd")
    with pytest.raises(registry.RegistryDown, match=r'labs.start\("etcd", \.\.\.\) brings it back'):
        etcd.get_prefix("/services/concerts/")
    with pytest.raises(registry.RegistryDown):
        registry.WatchedPool(etcd, "concerts")
    labs.start("etcd", "concerts", "haproxy", "dns", options=SETUP, progress=False)
    time.sleep(1)  # the instances' next refresh
    assert sorted(r["key"] for r in registry.instances(etcd, "concerts")) == before
