"""The docker backend: each component is one service of docker/compose.yaml, in a compose project
of its own so that two kernels (or two components) never share or stop each other's containers.

Layer: runtime. One idea: a component whose processes are a compose service's container.

    LABS_BACKEND=docker jupyter lab          # or labs.start(..., backend="docker")
    lab = labs.start("redis", "orders")      # compose up, on free ports published on 127.0.0.1
    lab.kill("redis"); lab.restart("redis")  # compose kill -s SIGKILL / compose restart
    lab.logs("redis"); lab.listeners("redis")

Lessons and tests reach a container only at 127.0.0.1: the brokers through ports Docker publishes
there, the lab's Python services on the host's network, bound to 127.0.0.1 (docker/compose.yaml
says why). A component with no service in the compose files, or one the learner runs elsewhere
(LABS_KAFKA_BOOTSTRAP), runs as on the local backend (`runs_in_docker`). When the kernel dies, even
by SIGKILL, the watchdog runs `compose down` for every project it started. Docker-native faults:
`pause()` (the freezer) and `disconnect()` (off its network), used by `labs.chaos.paused/disconnected`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from . import compose
from .component import _ANSI, Component, ComponentSpec
from .compose import NO_DOCKER_HINT, QUICK_TIMEOUT, usable_docker  # noqa: F401  (kept importable from here)
from .errors import LabError, StartError
from .paths import state_root
from .ports import free_port
from .reaper import Reaper
from .waiting import wait_ready

# The host ports a broker's compose service publishes, named as in the spec's port_names.
# RabbitMQ's epmd and distribution ports stay inside its container. A service not listed here
# (the lab's own services) gets one port for each of its spec's port_names.
COMPOSE_PORTS: dict[str, tuple[str, ...]] = {
    "rabbitmq": ("amqp", "management"),
    "redis": ("redis",),
    "kafka": ("kafka",),
}

# `up` may first pull or build an image of several hundred MB.
UP_TIMEOUT = 900.0
COMMAND_TIMEOUT = 120.0
STOP_SECONDS = 5  # `down -t`: SIGKILL after this long; every image stops on SIGTERM well within it
# A container boots a cold JVM or Erlang VM, and the spec's timeouts are for local processes.
MIN_START_TIMEOUT = 60.0

_build_lock = threading.Lock()  # several services share one image: build it once, not in parallel


def compose_file() -> Path:
    """The first compose file (LABS_COMPOSE_FILE may list several, as COMPOSE_FILE does)."""
    return compose.files()[0]


def port_env_var(service: str, port_name: str) -> str:
    """The variable docker/compose.yaml reads a published host port from."""
    return f"LABS_{service}_{port_name}_PORT".upper()


def published_port_names(spec: ComponentSpec) -> tuple[str, ...]:
    return COMPOSE_PORTS.get(spec.name, tuple(spec.port_names))


def runs_in_docker(spec: ComponentSpec) -> bool:
    """Whether the docker backend runs `spec` in a container: not when the learner points the lab at
    an instance of their own (external_endpoint), nor when the compose files define no service for
    it (a lesson's component that only runs locally); then it runs as on the local backend."""
    if spec.external_endpoint() is not None:
        return False
    defined = compose.services()
    return not defined or spec.name in defined  # unreadable: DockerComponent.start says why


class ComposeFailed(LabError):
    """A docker compose command exited non-zero; `output` is what it printed."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


class DockerComponent(Component):
    """A component run as a compose service (LABS_BACKEND=docker)."""

    backend = "docker"

    def __init__(self, spec: ComponentSpec, options: dict, reaper: Reaper):
        self.spec, self.name, self.options, self._reaper = spec, spec.name, options, reaper
        self.service = spec.name
        self._lock = threading.RLock()
        self._ports: dict[str, int] = {}
        self._pids: list[tuple[int, float]] = []  # host pids of the container's processes, when visible
        self._disconnected: list[str] = []
        self.project: str | None = None  # set on first start, cleared by a full stop
        self.data_dir: Path | None = None

    @property
    def endpoint(self) -> dict[str, str]:
        if not self._ports:
            raise LabError(f"{self.name} has not been started")
        return self.spec.endpoint(self._ports, self.options)

    @property
    def config(self) -> dict:
        """The service as compose resolves it (image, command, network_mode, ...)."""
        return compose.service(self.service) or {}

    @property
    def host_network(self) -> bool:
        return self.config.get("network_mode") == "host"

    def start(self) -> None:
        with self._lock:
            self.state, self.error = "starting", None
            try:
                docker = usable_docker()
                if self.project is None:
                    self._create_project(docker)
                self._build_if_missing(docker)
            except LabError as exc:
                self.state, self.error = "failed", exc
                raise
            self._run_until_ready("up", "-d", self.service, timeout=UP_TIMEOUT)

    def restart(self) -> None:
        """Restart the container (same ports, same data) and wait until it answers again."""
        with self._lock:
            if self.project is None:
                self.start()
                return
            self.state, self.error = "starting", None
            self._run_until_ready("restart", "-t", str(STOP_SECONDS), self.service, timeout=COMMAND_TIMEOUT)

    def stop(self, keep_data: bool = False) -> None:
        with self._lock:
            if self.project is not None:
                if keep_data:
                    self._compose_checked("stop", "-t", str(STOP_SECONDS), self.service, timeout=COMMAND_TIMEOUT)
                else:
                    # -v: the images declare anonymous volumes for their data; remove them too.
                    self._compose_checked("down", "-v", "-t", str(STOP_SECONDS), timeout=COMMAND_TIMEOUT)
                    self._reaper.cancel(self._reaper_key)
                    self.project, self._ports = None, {}
                    self._forget_state()
            self._pids = []
            self.state = "stopped"

    def reset(self) -> str | None:
        endpoint = self.endpoint
        if "management" in self._ports and "management" in self.options:
            # The compose files publish RabbitMQ's management port whatever the option showed the
            # learner; its reset hook needs that API (no vhost to recreate from outside the container).
            endpoint = self.spec.endpoint(self._ports, {**self.options, "management": True})
        return self.spec.reset(endpoint, self.options, None)

    def kill(self) -> None:
        """SIGKILL the container's processes, as a crash would; the container and its data stay."""
        with self._lock:
            if self.project is not None:
                self._compose_checked("kill", "-s", "SIGKILL", self.service, timeout=COMMAND_TIMEOUT)
            self._pids = []
            self.state = "killed"

    def alive(self) -> bool:
        if self.project is None:
            return False
        try:
            result = self._compose("ps", "--status", "running", "-q", self.service, timeout=QUICK_TIMEOUT)
        except LabError:
            return False
        return result.returncode == 0 and bool(result.stdout.strip())

    def logs(self, lines: int = 50) -> str:
        if self.project is None or lines <= 0:
            return ""
        try:
            result = self._compose("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), self.service,
                                   timeout=QUICK_TIMEOUT, merge_stderr=True)
        except LabError as exc:
            return f"(no logs: {exc})"
        text = _ANSI.sub("", result.stdout)  # RabbitMQ may colour its console log
        return "\n".join(text.splitlines()[-lines:])

    def listeners(self) -> list[str]:
        """The "ip:port" addresses this service listens on: what Docker publishes for a container on
        a bridge network, the sockets of its processes for one on the host's network."""
        if self.project is None:
            return []
        found: set[str] = set()
        try:
            result = self._compose("ps", "--format", "json", self.service, timeout=QUICK_TIMEOUT)
            containers = compose.json_objects(result.stdout) if result.returncode == 0 else []
        except (LabError, ValueError):
            containers = []
        for container in containers:
            for pub in container.get("Publishers") or []:
                ip, port = pub.get("URL", ""), pub.get("PublishedPort", 0)
                if port:  # 0: exposed by the image but not published
                    found.add(_address(ip, port))
        if self.host_network:
            found.update(_listening(self._host_processes()))
        return sorted(found)

    def rss_bytes(self) -> int:
        """Resident memory of the container's processes, when this machine sees them (Linux; not a
        Docker Desktop VM). `docker stats --no-stream` would sample for ~2 s: too slow for a table."""
        total = 0
        for proc in self._host_processes():
            try:
                total += proc.memory_info().rss
            except Exception:
                pass
        return total

    def pids(self) -> list[int]:
        return [p.pid for p in self._host_processes()]

    # --- Docker-native faults (labs.chaos.paused / labs.chaos.disconnected) ---

    def pause(self) -> None:
        """Freeze every process of the container (the cgroup freezer): connections stay open, nothing answers."""
        with self._lock:
            self._require_started("pause")
            self._compose_checked("pause", self.service, timeout=COMMAND_TIMEOUT)
            self.state = "paused"

    def unpause(self) -> None:
        with self._lock:
            self._require_started("unpause")
            self._compose_checked("unpause", self.service, timeout=COMMAND_TIMEOUT)
            self.state = "ready"

    def disconnect(self) -> None:
        """Take the container off its networks: its published ports stop answering, it reaches nobody."""
        with self._lock:
            self._require_started("disconnect")
            if self.host_network:
                raise LabError(f"{self.name} runs on the host's network (as the lab's own services do, see "
                               f"docker/compose.yaml), so there is no network to take it off; use "
                               f"chaos.paused(lab, {self.name!r}), or a chaos proxy's disable()")
            container = self._container_id()
            for network in self._networks(container):
                _docker_checked("network", "disconnect", network, container)
                self._disconnected.append(network)
            self.state = "disconnected"

    def reconnect(self) -> None:
        with self._lock:
            container = self._container_id()
            while self._disconnected:
                _docker_checked("network", "connect", self._disconnected.pop(), container)
            self.state = "ready"

    # --- internals ---

    @property
    def _reaper_key(self) -> str:
        return f"compose:{self.project}"

    def _require_started(self, what: str) -> None:
        if self.project is None:
            raise LabError(f"cannot {what} {self.name}: it has not been started")

    def _create_project(self, docker: str) -> None:
        compose.file_args()  # a clear error when a compose file is missing
        # The pid keeps `docker compose ls` readable; the random part keeps projects of one
        # process (a component stopped and started again) apart.
        self.project = f"labs-{os.getpid()}-{self.service}-{uuid.uuid4().hex[:8]}"
        self._ports = {name: free_port() for name in published_port_names(self.spec)}
        # If this kernel dies without running stop(), the watchdog removes the containers.
        self._reaper.run_later(self._reaper_key, self._argv(docker, "down", "-v", "-t", str(STOP_SECONDS)))

    def _build_if_missing(self, docker: str) -> None:
        """Build the service's image on first use (the lab's services: docker/Dockerfile), once per
        image even when several services start at the same moment."""
        config = self.config
        image = config.get("image")
        if not config.get("build") or not image:
            return
        with _build_lock:
            present = subprocess.run([docker, "image", "inspect", image], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=QUICK_TIMEOUT)
            if present.returncode != 0:
                self._compose_checked("build", self.service, timeout=UP_TIMEOUT)

    def _run_until_ready(self, *compose_args: str, timeout: float) -> None:
        started = time.monotonic()
        try:
            self._compose_checked(*compose_args, timeout=timeout)
            wait_ready(lambda: self.spec.probe(self.endpoint, self.options), timeout=self._start_timeout(),
                       interval=0.5, giving_up=self._container_gone)
        except BaseException as exc:
            tail = exc.output if isinstance(exc, ComposeFailed) else self.logs(25)
            reason = str(exc) if isinstance(exc, (TimeoutError, LabError, OSError)) else repr(exc)
            if isinstance(exc, TimeoutError) and self.host_network:
                reason += ("; it shares the host's network: on Docker Desktop turn on Settings > Resources > "
                           "Network > Enable host networking (4.34 or newer)")
            where = f"docker compose -p {self.project} logs {self.service}"
            error = StartError(self.name, reason, tail, where)
            try:
                self.stop(keep_data=True)  # like the local backend: stopped, but kept to look into
            except LabError:
                pass
            # The StartError itself, not `exc`: Lab re-raises comp.error and should keep the log tail.
            self.state, self.error = "failed", error
            raise error from exc
        self.ready_seconds = time.monotonic() - started
        self.state = "ready"
        self._pids = self._find_pids()
        self._write_state()

    def _start_timeout(self) -> float:
        explicit = os.environ.get("LABS_START_TIMEOUT")
        return float(explicit) if explicit else max(self.spec.start_timeout, MIN_START_TIMEOUT)

    def _container_gone(self) -> str | None:
        return None if self.alive() else "its container is not running"

    def _argv(self, docker: str, *compose_args: str) -> list[str]:
        return [docker, "compose", *compose.file_args(), "-p", str(self.project), *compose_args]

    def _env(self) -> dict[str, str]:
        # Compose reads the whole file on every command, so every command gets the same ports.
        # extra_env: LABS_DEPENDENCIES and LABS_TRACE_DIR, which compose.yaml hands to the services.
        env = {**os.environ, **self.extra_env,
               "LABS_UID": str(getattr(os, "getuid", lambda: 1000)()),
               "LABS_GID": str(getattr(os, "getgid", lambda: 1000)())}
        env.update({port_env_var(self.service, name): str(port) for name, port in self._ports.items()})
        return env

    def _compose(self, *compose_args: str, timeout: float,
                 merge_stderr: bool = False) -> subprocess.CompletedProcess[str]:
        return compose.run(["-p", str(self.project), *compose_args], env=self._env(), timeout=timeout,
                           merge_stderr=merge_stderr)

    def _compose_checked(self, *compose_args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        result = self._compose(*compose_args, timeout=timeout)
        if result.returncode != 0:
            raise ComposeFailed(f"`docker compose {' '.join(compose_args)}` exited with code {result.returncode}",
                                (result.stderr or "") + (result.stdout or ""))
        return result

    def _container_id(self) -> str:
        result = self._compose_checked("ps", "-q", self.service, timeout=QUICK_TIMEOUT)
        ids = result.stdout.split()
        if not ids:
            raise LabError(f"{self.name} has no container; start it with labs.start({self.name!r})")
        return ids[0]

    def _networks(self, container: str) -> list[str]:
        out = _docker_checked("inspect", "--format", "{{json .NetworkSettings.Networks}}", container)
        return sorted(json.loads(out.stdout or "{}") or {})

    def _find_pids(self) -> list[tuple[int, float]]:
        """Host pids of the container's processes, from `compose top`, kept only where this machine's
        process table shows the same command (under Docker Desktop the pids are the VM's)."""
        import psutil
        try:
            result = self._compose("top", self.service, timeout=QUICK_TIMEOUT)
        except LabError:
            return []
        found, pid_col, cmd_col = [], None, None
        for line in result.stdout.splitlines():
            words = line.split()
            if "PID" in words and words[-1] == "CMD":  # a header: columns differ between versions
                pid_col, cmd_col = words.index("PID"), len(words) - 1
                continue
            if pid_col is None:
                continue
            cols = line.split(None, cmd_col)
            if len(cols) <= cmd_col or not cols[pid_col].isdigit():
                continue
            try:
                proc = psutil.Process(int(cols[pid_col]))
                if " ".join(proc.cmdline()).strip() == cols[cmd_col].strip():
                    found.append((proc.pid, proc.create_time()))
            except psutil.Error:
                continue
        return found

    def _host_processes(self) -> list:
        import psutil
        procs = []
        for pid, created in self._pids:
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    procs.append(proc)
            except psutil.Error:
                continue
        return procs

    def _write_state(self) -> None:
        """A state file like the local backend's, so `python -m labs status` and `clean` see the project."""
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=state_root()))
            self._reaper.remove_dir_later(str(self.data_dir))
        (self.data_dir / "state.json").write_text(json.dumps({
            "name": self.name, "owner": os.getpid(), "endpoint": self.endpoint, "pids": [],
            "data_dir": str(self.data_dir), "backend": "docker", "project": self.project,
            "down": self._argv(compose.docker_client(), "down", "-v", "-t", str(STOP_SECONDS)),
            "ready_seconds": self.ready_seconds,
        }))

    def _forget_state(self) -> None:
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._reaper.forget_dir(str(self.data_dir))
            self.data_dir = None


def _docker_checked(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([compose.docker_client(), *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise LabError(f"`docker {' '.join(args)}` failed: {compose.last_line(result.stderr)}")
    return result


def _address(ip: str, port: int) -> str:
    ip = ip.removeprefix("::ffff:")  # an IPv4-mapped address is that IPv4 address
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _listening(processes: list) -> set[str]:
    import psutil
    found = set()
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add(_address(*conn.laddr))
        except psutil.Error:
            continue
    return found


def running_project(project: str) -> bool:
    """Whether a compose project still has a running container (for `python -m labs status`)."""
    try:
        result = subprocess.run([compose.docker_client(), "ps", "-q", "--filter",
                                 f"label=com.docker.compose.project={project}"],
                                capture_output=True, text=True, timeout=QUICK_TIMEOUT, stdin=subprocess.DEVNULL)
    except (LabError, OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
