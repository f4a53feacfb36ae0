"""Nothing left behind: SIGKILL of `labs up` or of a kernel leaves no process, port or data dir."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

import labs
from labs.runtime import is_listening
from labs.runtime.status import running_components

ALL = ["rabbitmq", "redis", "kafka"]


def _ports(endpoints: dict) -> list[int]:
    """Every port in {name: {key: "amqp://u:p@127.0.0.1:PORT/..." or "127.0.0.1:PORT"}}."""
    from urllib.parse import urlsplit
    return [urlsplit(a).port if "://" in a else int(a.rsplit(":", 1)[1])
            for ep in endpoints.values() for a in ep.values()]


def _owned_by(owner: int) -> list[dict]:
    return [row for row in running_components() if row["owner"] == owner]


def _assert_gone(pids: list[int], ports: list[int], dirs: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        listening = [p for p in ports if is_listening(p)]
        left = [d for d in dirs if Path(d).exists()]
        if not (alive or listening or left):
            return
        time.sleep(0.2)
    raise AssertionError(f"left behind: pids {alive}, listening ports {listening}, dirs {left}")


def _spawn_up(*names: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "labs", "up", *names, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"labs up printed nothing: {proc.stderr.read()[-2000:]}")
    return proc, json.loads(line)


def _component_tree(rows: list[dict]) -> list[int]:
    pids = []
    for row in rows:
        for pid in row["pids"]:
            pids.append(pid)
            pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    return pids


def test_sigkill_of_labs_up_leaves_nothing_behind():
    proc, endpoints = _spawn_up(*ALL)
    rows = _owned_by(proc.pid)
    assert sorted(r["name"] for r in rows) == sorted(ALL)
    pids = _component_tree(rows)
    assert any(psutil.Process(p).name() == "epmd" for p in pids), "epmd must be one of ours"
    ports = _ports(endpoints)
    assert all(is_listening(p) for p in ports)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_gone(pids, ports, [r["data_dir"] for r in rows])


def test_sigkill_of_a_kernel_leaves_nothing_behind():
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = ("import json, labs; lab = labs.start(progress=False); "
                "print(json.dumps({n: lab.endpoint(n) for n in lab.names}))")
        outputs = []
        reply = kc.execute_interactive(code, timeout=180,
                                       output_hook=lambda m: outputs.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
        endpoints = json.loads("".join(outputs).strip().splitlines()[-1])
        kernel_pid = km.provisioner.pid
        rows = _owned_by(kernel_pid)
        # labs.start() with no names starts every registered component: brokers and services
        assert sorted(r["name"] for r in rows) == sorted(labs.component_names())
        pids, ports = _component_tree(rows), _ports(endpoints)
        os.kill(kernel_pid, signal.SIGKILL)
        _assert_gone(pids, ports, [r["data_dir"] for r in rows])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_two_labs_up_at_once_both_work_on_different_ports():
    import redis
    first, second = [subprocess.Popen([sys.executable, "-m", "labs", "up", "redis", "kafka", "rabbitmq", "--json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                     for _ in range(2)]
    try:
        ep1, ep2 = json.loads(first.stdout.readline()), json.loads(second.stdout.readline())
        assert set(_ports(ep1)).isdisjoint(_ports(ep2))
        for ep in (ep1, ep2):
            assert redis.Redis.from_url(ep["redis"]["url"]).ping()
        for proc in (first, second):
            proc.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
        _assert_gone([], _ports(ep1) + _ports(ep2), [], timeout=10)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
