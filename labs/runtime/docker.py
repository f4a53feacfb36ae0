"""The docker backend: each component is one service of docker/compose.yaml, in a compose
project of its own so that two kernels (or two components) never share or stop each other's
containers.

Layer: runtime.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from .component import _ANSI, Component, ComponentSpec
from .waiting import wait_ready
from .errors import LabError, StartError
from .ports import free_port
from .reaper import Reaper

# The host ports each compose service publishes, named as in the spec's port_names.
# RabbitMQ's epmd and distribution ports stay inside its container.
COMPOSE_PORTS: dict[str, tuple[str, ...]] = {
    "rabbitmq": ("amqp", "management"),
    "redis": ("redis",),
    "kafka": ("kafka",),
}

# `up` may first pull an image of several hundred MB.
UP_TIMEOUT = 900.0
COMMAND_TIMEOUT = 120.0
QUICK_TIMEOUT = 15.0
# A container boots a cold JVM or Erlang VM, and the spec's timeouts are for local processes.
MIN_START_TIMEOUT = 60.0

NO_DOCKER_HINT = "the local backend (the default: unset LABS_BACKEND) needs no Docker"


def compose_file() -> Path:
    explicit = os.environ.get("LABS_COMPOSE_FILE")
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def port_env_var(service: str, port_name: str) -> str:
    """The variable docker/compose.yaml reads a published host port from."""
    return f"LABS_{service}_{port_name}_PORT".upper()


def usable_docker() -> str:
    """The path of the `docker` client on PATH, once it has reached an engine that has Compose v2."""
    docker = shutil.which("docker")
    if docker is None:
        raise LabError(f"Docker is not usable: there is no `docker` command on PATH; {NO_DOCKER_HINT}")
    checks = (([docker, "info", "--format", "{{.ServerVersion}}"], "no Docker engine is reachable"),
              ([docker, "compose", "version"], "the Compose v2 plugin (`docker compose`) is missing"))
    for argv, problem in checks:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=QUICK_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"Docker is not usable: `docker {argv[1]}` failed ({exc}); {NO_DOCKER_HINT}") from exc
        if result.returncode != 0:
            detail = _last_line(result.stderr) or f"exit code {result.returncode}"
            raise LabError(f"Docker is not usable: {problem} ({detail}); {NO_DOCKER_HINT}")
    return docker


class ComposeFailed(LabError):
    """A docker compose command exited non-zero; `output` is what it printed."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


class DockerComponent(Component):
    """A component run as a compose service (LABS_BACKEND=docker)."""

    def __init__(self, spec: ComponentSpec, options: dict, reaper: Reaper):
        self.spec, self.name, self.options, self._reaper = spec, spec.name, options, reaper
        self.service = spec.name
        self._lock = threading.RLock()
        self._ports: dict[str, int] = {}
        self.project: str | None = None  # set on first start, cleared by a full stop

    @property
    def endpoint(self) -> dict[str, str]:
        if not self._ports:
            raise LabError(f"{self.name} has not been started")
        return self.spec.endpoint(self._ports, self.options)

    def start(self) -> None:
        with self._lock:
            self.state, self.error = "starting", None
            try:
                docker = usable_docker()
                if self.project is None:
                    self._create_project(docker)
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
            self._run_until_ready("restart", self.service, timeout=COMMAND_TIMEOUT)

    def stop(self, keep_data: bool = False) -> None:
        with self._lock:
            if self.project is not None:
                if keep_data:
                    self._compose_checked("stop", self.service, timeout=COMMAND_TIMEOUT)
                else:
                    # -v: the images declare anonymous volumes for their data; remove them too.
                    self._compose_checked("down", "-v", timeout=COMMAND_TIMEOUT)
                    self._reaper.cancel(self._reaper_key)
                    self.project, self._ports = None, {}
            self.state = "stopped"

    def kill(self) -> None:
        """SIGKILL the container's processes, as a crash would; the container and its data stay."""
        with self._lock:
            if self.project is not None:
                self._compose_checked("kill", "-s", "SIGKILL", self.service, timeout=COMMAND_TIMEOUT)
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
        """The "ip:port" addresses Docker publishes this service on, as Docker reports them."""
        if self.project is None:
            return []
        try:
            result = self._compose("ps", "--format", "json", self.service, timeout=QUICK_TIMEOUT)
            containers = _json_objects(result.stdout) if result.returncode == 0 else []
        except (LabError, ValueError):
            return []
        found = set()
        for container in containers:
            for pub in container.get("Publishers") or []:
                ip, port = pub.get("URL", ""), pub.get("PublishedPort", 0)
                if port:  # 0: exposed by the image but not published
                    found.add(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
        return sorted(found)

    def rss_bytes(self) -> int:
        # `docker stats --no-stream` samples for about 2 s: too slow for a status table.
        return 0

    # --- internals ---

    @property
    def _reaper_key(self) -> str:
        return f"compose:{self.project}"

    def _create_project(self, docker: str) -> None:
        if self.service not in COMPOSE_PORTS:
            raise LabError(f"{self.name} has no Docker service; use the local backend for it")
        file = compose_file()
        if not file.is_file():
            raise LabError(f"the compose file {file} does not exist; set LABS_COMPOSE_FILE to docker/compose.yaml "
                           f"of a checkout of the course")
        # The pid keeps `docker compose ls` readable; the random part keeps projects of one
        # process (a component stopped and started again) apart.
        self.project = f"labs-{os.getpid()}-{self.service}-{uuid.uuid4().hex[:8]}"
        self._ports = {name: free_port() for name in COMPOSE_PORTS[self.service]}
        # If this kernel dies without running stop(), the watchdog removes the containers.
        self._reaper.run_later(self._reaper_key, self._argv(docker, "down", "-v"))

    def _run_until_ready(self, *compose_args: str, timeout: float) -> None:
        started = time.monotonic()
        try:
            self._compose_checked(*compose_args, timeout=timeout)
            wait_ready(lambda: self.spec.probe(self.endpoint, self.options), timeout=self._start_timeout(),
                       interval=0.5, giving_up=self._container_gone)
        except BaseException as exc:
            tail = exc.output if isinstance(exc, ComposeFailed) else self.logs(25)
            reason = str(exc) if isinstance(exc, (TimeoutError, LabError, OSError)) else repr(exc)
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

    def _start_timeout(self) -> float:
        explicit = os.environ.get("LABS_START_TIMEOUT")
        return float(explicit) if explicit else max(self.spec.start_timeout, MIN_START_TIMEOUT)

    def _container_gone(self) -> str | None:
        return None if self.alive() else "its container is not running"

    def _argv(self, docker: str, *compose_args: str) -> list[str]:
        return [docker, "compose", "-f", str(compose_file()), "-p", str(self.project), *compose_args]

    def _compose(self, *compose_args: str, timeout: float,
                 merge_stderr: bool = False) -> subprocess.CompletedProcess[str]:
        docker = shutil.which("docker")
        if docker is None:
            raise LabError(f"Docker is not usable: there is no `docker` command on PATH; {NO_DOCKER_HINT}")
        # Compose reads the whole file on every command, so every command gets the same ports.
        env = {**os.environ, **{port_env_var(self.service, name): str(port) for name, port in self._ports.items()}}
        try:
            return subprocess.run(self._argv(docker, *compose_args), env=env, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"`docker compose {' '.join(compose_args)}` took longer than {timeout:.0f} s") from exc
        except OSError as exc:
            raise LabError(f"could not run docker: {exc}") from exc

    def _compose_checked(self, *compose_args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        result = self._compose(*compose_args, timeout=timeout)
        if result.returncode != 0:
            raise ComposeFailed(f"`docker compose {' '.join(compose_args)}` exited with code {result.returncode}",
                                (result.stderr or "") + (result.stdout or ""))
        return result


def _json_objects(text: str) -> list[dict]:
    """`docker compose ps --format json` prints one array (before Compose 2.21) or one object a line."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
