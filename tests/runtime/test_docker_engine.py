"""The docker backend against a real Docker engine: `make test-docker` starts one (root, CI) with the
stand-in images of docker/compose.offline.yaml and sets LABS_DOCKER_ENGINE=1; skipped everywhere else
(the fake-client tests in test_docker_backend.py always run)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

import labs
from labs import chaos
from labs.runtime import lab as lab_module
from labs.runtime.component import LocalComponent, _registry
from labs.runtime.docker import DockerComponent
from labs.runtime.errors import LabError
from labs.runtime.service import PythonService
from labs.runtime.waiting import poll_until

pytestmark = pytest.mark.skipif(os.environ.get("LABS_DOCKER_ENGINE") != "1",
                                reason="needs the engine `make test-docker` starts (root); LABS_DOCKER_ENGINE=1")

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "health_service.py"


def _containers(project_prefix: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                         check=True).stdout
    return [name for name in out.split() if name.startswith(project_prefix)]


def _networks(project_prefix: str) -> list[str]:
    out = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                         check=True).stdout
    return [name for name in out.split() if name.startswith(project_prefix)]


@pytest.fixture(scope="module")
def lab():
    with labs.start("redis", "users", "chaos", backend="docker", progress=False) as started:
        yield started


def test_every_listener_is_loopback_and_reached_on_127_0_0_1(lab):
    for name in lab.names:
        assert isinstance(lab.component(name), DockerComponent)
        listeners = lab.listeners(name)
        assert listeners and all(a.startswith("127.0.0.1:") for a in listeners), (name, listeners)
        assert all("127.0.0.1:" in address for address in lab.endpoint(name).values()), lab.endpoint(name)
    assert redis.Redis.from_url(lab.endpoint("redis")["url"]).ping()
    # The lab's services bind 127.0.0.1 on the host's network: their sockets are the listeners.
    users = lab.endpoint("users")
    assert {users["http"].removeprefix("http://"), users["grpc"]} <= set(lab.listeners("users"))
    assert lab.component("users").rss_bytes() > 10 * 2**20  # a Python process, seen from the host


def test_kill_restart_and_logs(lab):
    url = lab.endpoint("redis")["url"]
    lab.kill("redis")
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_timeout=1).ping()
    lab.restart("redis")
    assert lab.endpoint("redis")["url"] == url and redis.Redis.from_url(url).ping()
    assert "Ready to accept connections" in lab.logs("redis", 50)


def test_pause_freezes_and_disconnect_cuts_a_broker(lab):
    url = lab.endpoint("redis")["url"]
    with chaos.paused(lab, "redis"):
        with pytest.raises(redis.TimeoutError):
            redis.Redis.from_url(url, socket_timeout=1).ping()
    assert redis.Redis.from_url(url, socket_timeout=2).ping()
    with chaos.disconnected(lab, "redis"):
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()

    def answers() -> bool:
        try:
            return redis.Redis.from_url(url, socket_timeout=1).ping()
        except redis.RedisError:
            return False
    assert poll_until(answers, timeout=10, interval=0.2)


def test_a_service_on_the_host_network_cannot_be_disconnected(lab):
    with pytest.raises(LabError, match="host's network.*paused"):
        with chaos.disconnected(lab, "users"):
            pass


def test_a_sigkilled_kernel_leaves_no_container_and_no_network():
    script = ("import labs, os, sys; lab = labs.start('redis', 'users', backend='docker', progress=False); "
              "print(os.getpid(), flush=True); sys.stdin.read()")
    owner = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=REPO)
    pid = int(owner.stdout.readline())
    prefix = f"labs-{pid}-"
    assert len(_containers(prefix)) == 2
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert poll_until(lambda: not _containers(prefix) and not _networks(prefix), timeout=60, interval=0.5), \
        (_containers(prefix), _networks(prefix))


def test_status_lists_docker_projects_and_clean_removes_orphans(tmp_path):
    """With the watchdog gone too (a machine crash), `labs status` still finds the containers and
    `labs clean` removes them. (A state dir of its own: another process's `labs clean` would take them.)"""
    env = {**os.environ, "LABS_STATE_DIR": str(tmp_path)}
    script = ("import labs, os, sys; from labs.runtime import lab as l; "
              "lab = labs.start('redis', backend='docker', progress=False); "
              "print(os.getpid(), l._session.reaper._proc.pid, flush=True); sys.stdin.read()")
    owner = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=REPO, env=env)
    pid, reaper = map(int, owner.stdout.readline().split())
    os.kill(reaper, signal.SIGKILL)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    status = subprocess.run([sys.executable, "-m", "labs", "status", "--json"], capture_output=True, text=True,
                            check=True, cwd=REPO, env=env)
    rows = [r for r in json.loads(status.stdout) if r["owner"] == pid]
    assert [(r["name"], r["backend"], r["alive"], r["owner_alive"]) for r in rows] == [("redis", "docker", True, False)]
    subprocess.run([sys.executable, "-m", "labs", "clean"], capture_output=True, check=True, cwd=REPO, env=env)
    assert not _containers(f"labs-{pid}-")


@pytest.fixture
def isolated_session(monkeypatch):
    monkeypatch.setattr(lab_module._session, "components", {})
    monkeypatch.setattr(lab_module._session, "threads", {})


def test_an_external_kafka_is_used_as_given_and_runs_no_container(isolated_session, monkeypatch):
    with labs.start("kafka", backend="docker", progress=False) as docker_kafka:
        bootstrap = docker_kafka.endpoint("kafka")["bootstrap"]
        monkeypatch.setattr(lab_module._session, "components", {})
        monkeypatch.setenv("LABS_KAFKA_BOOTSTRAP", bootstrap)
        with labs.start("kafka", backend="docker", progress=False) as external:
            component = external.component("kafka")
            assert isinstance(component, LocalComponent) and component.external
            assert external.endpoint("kafka") == {"bootstrap": bootstrap}


class LocalOnly(PythonService):
    """A component with no service in the compose files (as a new lesson's may be)."""
    name = "local-only-fixture"
    http = grpc = True

    def command(self):
        return [sys.executable, str(FIXTURE)]


def test_a_component_without_a_compose_service_runs_locally(isolated_session):
    _registry[LocalOnly.name] = LocalOnly()
    try:
        with labs.start(LocalOnly.name, backend="docker", progress=False) as started:
            assert isinstance(started.component(LocalOnly.name), LocalComponent)
            assert started.endpoint(LocalOnly.name)["http"].startswith("http://127.0.0.1:")
    finally:
        del _registry[LocalOnly.name]


def test_a_local_service_and_a_container_reach_each_other_through_127_0_0_1(lab):
    """A proxy of the local chaos server in front of a containerised service: the same loopback
    address works from a process on the host."""
    import httpx
    proxy = chaos.proxy(lab, "users", name="docker-users")
    started = time.monotonic()
    assert httpx.get(proxy.url_for() + "/health", timeout=5).status_code == 200
    assert time.monotonic() - started < 5
