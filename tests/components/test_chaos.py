"""The `chaos` component (a Toxiproxy-compatible fault proxy) and `labs.chaos`, against a TCP echo server."""
import socket
import threading
import time
import uuid

import httpx
import pytest

import labs
from labs import chaos


# `echo` (a TCP echo server) and `api` (a chaos server) come from conftest.py


@pytest.fixture
def proxy(api, echo):
    """A fresh proxy in front of the echo server, deleted afterwards."""
    client = chaos.ToxiproxyClient(api)
    p = client.create(f"echo-{uuid.uuid4().hex[:8]}", f"127.0.0.1:{echo.port}")
    yield p
    client.delete(p.name)
    client.close()


def connect(p, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def rtts_ms(s, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        times.append((time.perf_counter() - t) * 1000)
    return times


def rtt_fastest_ms(s, n):
    """The fastest of n round trips. A busy machine only ever adds time to a round trip (a process
    that waits for a CPU), so the fastest one is what the path itself costs: with the other tests
    and CI's 2 cores busy, medians moved by 5-15 ms; the fastest of 25 by under 2 ms."""
    return min(rtts_ms(s, n))


def test_a_plain_http_client_following_toxiproxys_readme_works_unchanged(api, echo):
    base = api
    body = {"name": "readme_redis", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo.port}"}
    r = httpx.post(f"{base}/proxies", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "readme_redis" and created["enabled"] is True and created["toxics"] == []
    port = int(created["listen"].rpartition(":")[2])
    assert created["listen"] == f"127.0.0.1:{port}" and port > 0
    assert "readme_redis" in httpx.get(f"{base}/proxies").json()
    assert httpx.post(f"{base}/proxies", json=body).status_code == 409

    r = httpx.post(f"{base}/proxies/readme_redis/toxics", json={"type": "latency", "attributes": {"latency": 1000}})
    assert r.status_code == 200, r.text  # Toxiproxy's clients expect 200 for a new toxic
    toxic = r.json()
    assert toxic == {"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                     "attributes": {"latency": 1000, "jitter": 0}}
    assert httpx.get(f"{base}/proxies/readme_redis/toxics").json() == [toxic]
    assert httpx.get(f"{base}/proxies/readme_redis/toxics/latency_downstream").json() == toxic
    r = httpx.post(f"{base}/proxies/readme_redis/toxics/latency_downstream", json={"attributes": {"latency": 5}})
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 5, "jitter": 0}
    assert httpx.delete(f"{base}/proxies/readme_redis/toxics/latency_downstream").status_code == 204
    assert httpx.get(f"{base}/proxies/readme_redis/toxics").json() == []
    assert httpx.delete(f"{base}/proxies/readme_redis/toxics/latency_downstream").status_code == 404

    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"hello")
        assert recv_exactly(s, 5) == b"hello"
    r = httpx.post(f"{base}/proxies/readme_redis", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert httpx.post(f"{base}/reset").status_code == 204
    assert httpx.get(f"{base}/proxies/readme_redis").json()["enabled"] is True
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"again")
        assert recv_exactly(s, 5) == b"again"

    assert httpx.get(f"{base}/version").status_code == 200
    assert httpx.get(f"{base}/proxies/nope").status_code == 404
    assert httpx.post(f"{base}/proxies/nope/toxics", json={"type": "latency"}).status_code == 404
    assert httpx.delete(f"{base}/proxies/readme_redis").status_code == 204
    assert httpx.get(f"{base}/proxies/readme_redis").status_code == 404


@pytest.mark.parametrize("added_ms", [10, 50])
def test_injected_latency_moves_the_round_trip_median_by_that_much(proxy, added_ms):
    with connect(proxy) as s:
        rtts_ms(s, 50)  # warm up
        base = rtt_fastest_ms(s, 300)
        with proxy.toxic("latency", latency=added_ms):
            slow = rtt_fastest_ms(s, 25)
        after = rtt_fastest_ms(s, 100)
    moved = slow - base
    # The 3%-or-1-ms accuracy target (on medians, on a quiet machine) is measured by
    # benchmarks/chaos_proxy.py; a test on a busy CI machine only proves the latency is the one asked
    # for, not some other, comparing like with like: the fastest round trip with and without it.
    assert slow >= added_ms, (base, slow)  # never early: every byte was held at least that long
    assert abs(moved - added_ms) <= max(3.0, 0.05 * added_ms), (base, slow)
    assert after < base + 1.0, (base, after)  # the context manager removed the toxic


def test_the_proxy_adds_little_without_toxics(proxy, echo):
    with socket.create_connection(("127.0.0.1", echo.port)) as d, connect(proxy) as p:
        d.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts_ms(d, 50), rtts_ms(p, 50)
        direct, proxied = rtt_fastest_ms(d, 500), rtt_fastest_ms(p, 500)
    assert proxied - direct < 1.0, (direct, proxied)  # ~0.1 ms here; the fastest of each: see rtt_fastest_ms


def test_bandwidth_paces_a_transfer_to_size_over_rate(proxy):
    size, rate = 60_000, 200  # bytes, KB/s -> 0.3 s
    proxy.add("bandwidth", rate=rate)
    with connect(proxy) as s:
        t = time.perf_counter()
        threading.Thread(target=s.sendall, args=(b"x" * size,), daemon=True).start()
        assert len(recv_exactly(s, size)) == size
        took = time.perf_counter() - t
    expected = size / (rate * 1000)
    assert abs(took - expected) <= 0.1 * expected + 0.02, (took, expected)


def test_timeout_zero_is_a_blackhole_until_removed(proxy):
    with connect(proxy) as s:
        s.sendall(b"1")
        assert recv_exactly(s, 1) == b"1"
        proxy.add("timeout", timeout=0)
        s.settimeout(0.4)
        s.sendall(b"2")
        with pytest.raises(socket.timeout):
            s.recv(10)
        proxy.remove("timeout_downstream")
        s.settimeout(2)
        assert recv_exactly(s, 1) == b"2"  # held, not lost


def test_timeout_closes_the_connection_after_the_delay(proxy):
    proxy.add("timeout", timeout=150)
    with connect(proxy) as s:
        t = time.perf_counter()
        s.sendall(b"x")
        assert s.recv(10) == b""
        assert 0.13 <= time.perf_counter() - t < 1.0
    assert proxy.stats()["timeouts"] >= 1


def test_reset_peer_resets_the_connection(proxy):
    proxy.add("reset_peer", timeout=0)
    # timeout=0 resets at once: the reset may already hit while connecting (setsockopt), or later
    with pytest.raises(ConnectionResetError):
        with connect(proxy) as s:
            s.sendall(b"x")
            time.sleep(0.05)
            s.sendall(b"y")
            s.recv(10)
    proxy.clear()
    proxy.add("reset_peer", timeout=100)
    with connect(proxy) as s:
        s.sendall(b"z")
        assert recv_exactly(s, 1) == b"z"
        t = time.perf_counter()
        with pytest.raises(ConnectionResetError):
            s.recv(10)
        assert time.perf_counter() - t < 1.0
    assert proxy.stats()["resets"] == 2


def test_toxic_names_may_hold_spaces(proxy):
    proxy.add("latency", latency=1, name="answer lost")
    proxy.update_toxic("answer lost", latency=2)
    proxy.remove("answer lost")
    assert proxy.toxics() == []


def test_down_refuses_and_cuts_connections_and_up_restores_the_same_port(proxy):
    port = proxy.port
    s = connect(proxy)
    s.sendall(b"a")
    assert recv_exactly(s, 1) == b"a"
    with proxy.down():
        assert proxy.enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy)
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
    s.close()
    assert proxy.port == port and proxy.enabled
    with connect(proxy) as s:
        s.sendall(b"b")
        assert recv_exactly(s, 1) == b"b"


def _schedule(p, n=24):
    outcome = []
    for _ in range(n):
        try:
            with connect(p, timeout=2) as s:
                s.sendall(b"x")
                outcome.append(recv_exactly(s, 1) == b"x")
        except OSError:  # reset while connecting or after
            outcome.append(False)
    return outcome


def test_a_seed_repeats_the_fault_schedule(api, echo):
    client = chaos.ToxiproxyClient(api)
    p = client.create("seeded", f"127.0.0.1:{echo.port}", seed=7)
    try:
        p.add("reset_peer", timeout=0, toxicity=0.5)
        first = _schedule(p)
        p.seed(7)
        second = _schedule(p)
        p.seed(8)
        other = _schedule(p)
    finally:
        client.delete("seeded")
    assert first == second
    assert 4 <= sum(first) <= 20, first  # about half pass
    assert other != first


def test_capture_shows_a_plaintext_request(proxy):
    request = (b"POST /orders HTTP/1.1\r\nHost: orders\r\nContent-Type: application/json\r\n\r\n"
               b'{"user_id": 1, "card": "4111 1111 1111 1111"}')
    with connect(proxy) as s:
        s.sendall(request)
        recv_exactly(s, len(request))
    last = proxy.capture()[-1]
    assert "4111 1111 1111 1111" in last["upstream"]["text"]
    assert last["upstream"]["bytes"] == last["downstream"]["bytes"] == len(request)
    stats = proxy.stats()
    assert stats["connections"] == 1 and stats["bytes_upstream"] == stats["bytes_downstream"] == len(request)


def test_limit_data_slicer_and_slow_close(proxy):
    with proxy.toxic("slicer", average_size=7, size_variation=3, delay=50):
        with connect(proxy) as s:
            data = bytes(range(256)) * 4
            s.sendall(data)
            assert recv_exactly(s, len(data)) == data
    with proxy.toxic("limit_data", bytes=100):
        with connect(proxy) as s:
            s.sendall(b"x" * 300)
            assert recv_exactly(s, 300) == b"x" * 100
    with proxy.toxic("slow_close", delay=200):
        with connect(proxy) as s:
            s.sendall(b"bye")
            assert recv_exactly(s, 3) == b"bye"
            t = time.perf_counter()
            s.shutdown(socket.SHUT_WR)
            assert s.recv(10) == b""
            assert time.perf_counter() - t >= 0.18


def test_every_listener_binds_loopback(api, proxy):
    lab = labs.start("chaos")
    listeners = lab.listeners("chaos")
    assert listeners and all(a.startswith("127.0.0.1:") for a in listeners), listeners
    assert f"127.0.0.1:{proxy.port}" in listeners
    r = httpx.post(f"{api}/proxies", json={"name": "anywhere", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:1"})
    assert r.status_code == 201 and r.json()["listen"].startswith("127.0.0.1:")
    httpx.delete(f"{api}/proxies/anywhere")
    r = httpx.post(f"{api}/proxies", json={"name": "lan", "listen": "10.1.2.3:0", "upstream": "127.0.0.1:1"})
    assert r.status_code == 400 and "127.0.0.1" in r.json()["error"]


@pytest.mark.parametrize("toxic, needle", [
    ({"type": "latency", "attributes": {"latency": -5}}, "0..60000 ms"),
    ({"type": "latency", "attributes": {"latency": 10}, "toxicity": 1.5}, "0..1"),
    ({"type": "bandwidth", "attributes": {"rate": 0}}, "1..10000000 KB/s"),
    ({"type": "latency", "stream": "sideways"}, "upstream"),
    ({"type": "packet_loss"}, "latency, bandwidth"),
    ({"type": "latency", "attributes": {"latncy": 5}}, "latency, jitter"),
])
def test_bad_input_gets_400_naming_the_range(api, proxy, toxic, needle):
    r = httpx.post(f"{api}/proxies/{proxy.name}/toxics", json=toxic)
    assert r.status_code == 400 and needle in r.json()["error"], r.text
    with pytest.raises(ValueError, match=needle.split()[0].replace(".", r"\.")):
        proxy.add(toxic["type"], stream=toxic.get("stream", "downstream"), toxicity=toxic.get("toxicity", 1.0),
                  **toxic.get("attributes", {}))


def test_proxy_in_front_of_a_lab_component(api):
    import redis
    lab = labs.start("redis")
    p = chaos.proxy(lab, "redis")
    assert p.port_key == "url" and p.endpoint == {"url": f"redis://127.0.0.1:{p.port}/0"}
    assert p.url_for() == p.endpoint["url"] and p.address == f"127.0.0.1:{p.port}"
    with pytest.raises(chaos.ChaosError, match="port_key"):
        p.url_for("http")
    with pytest.raises(ValueError, match="choose from: url"):
        chaos.proxy(lab, "redis", port_key="grpc")
    r = redis.Redis.from_url(p.url_for(), socket_timeout=2)
    assert r.ping()
    with pytest.raises(RuntimeError):
        with p.toxic("latency", latency=30):
            assert len(p.toxics()) == 1
            t = time.perf_counter()
            r.ping()
            assert time.perf_counter() - t >= 0.03
            raise RuntimeError("the toxic goes anyway")
    assert p.toxics() == []
    p.add("latency", latency=5)
    again = chaos.proxy(lab, "redis")  # a notebook cell run twice: same port, no toxics
    assert again.address == p.address and again.toxics() == []
    assert p.stats()["bytes_upstream"] > 0 and "PING" in "".join(c["upstream"]["text"] for c in p.capture())
    r.close()
    again.delete()
