"""Running `docker compose` for the docker backend: which files, which services, one command.

Layer: runtime. One idea: the compose files and the services they define, and running compose
commands against them with errors that say what to do.

    from labs.runtime import compose
    compose.files()                       # [docker/compose.yaml] or what LABS_COMPOSE_FILE lists
    compose.service("redis")              # its resolved config (image, build, network_mode, ...)
    compose.run(["-p", "labs-1-redis", "ps"], env=..., timeout=15)
    compose.usable_docker()               # the docker client, once an engine with Compose v2 answers

LABS_COMPOSE_FILE holds one path, or several separated by os.pathsep as COMPOSE_FILE does
(`docker/compose.yaml:docker/compose.offline.yaml`: the stand-ins CI builds, layered on the
upstream images).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

from .errors import LabError

QUICK_TIMEOUT = 15.0
NO_DOCKER_HINT = "the local backend (the default: unset LABS_BACKEND) needs no Docker"

_config_lock = threading.Lock()
_configs: dict[tuple[str, ...], dict[str, dict]] = {}


REPO = Path(__file__).resolve().parents[2]


def files() -> list[Path]:
    """The compose files, absolute. A relative path in LABS_COMPOSE_FILE is taken from the current
    directory when it exists there, else from the course's root (a notebook's kernel runs in notebooks/)."""
    explicit = os.environ.get("LABS_COMPOSE_FILE")
    if not explicit:
        return [REPO / "docker" / "compose.yaml"]
    paths = [Path(p) for p in explicit.split(os.pathsep) if p]
    return [p.resolve() if p.is_absolute() or p.exists() else REPO / p for p in paths]


def file_args() -> list[str]:
    missing = [str(f) for f in files() if not f.is_file()]
    if missing:
        raise LabError(f"the compose file {missing[0]} does not exist; set LABS_COMPOSE_FILE to docker/compose.yaml "
                       f"of a checkout of the course")
    return [arg for f in files() for arg in ("-f", str(f))]


def docker_client() -> str:
    docker = shutil.which("docker")
    if docker is None:
        raise LabError(f"Docker is not usable: there is no `docker` command on PATH; {NO_DOCKER_HINT}")
    return docker


def usable_docker() -> str:
    """The path of the `docker` client on PATH, once it has reached an engine that has Compose v2."""
    docker = docker_client()
    checks = (([docker, "info", "--format", "{{.ServerVersion}}"], "no Docker engine is reachable"),
              ([docker, "compose", "version"], "the Compose v2 plugin (`docker compose`) is missing"))
    for argv, problem in checks:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=QUICK_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"Docker is not usable: `docker {argv[1]}` failed ({exc}); {NO_DOCKER_HINT}") from exc
        if result.returncode != 0:
            detail = last_line(result.stderr) or f"exit code {result.returncode}"
            raise LabError(f"Docker is not usable: {problem} ({detail}); {NO_DOCKER_HINT}")
    return docker


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = QUICK_TIMEOUT,
        merge_stderr: bool = False) -> subprocess.CompletedProcess[str]:
    """`docker compose -f FILE... ARGS`; LabError when docker cannot be run or takes too long."""
    argv = [docker_client(), "compose", *file_args(), *args]
    try:
        return subprocess.run(argv, env=env, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`docker compose {' '.join(args)}` took longer than {timeout:.0f} s") from exc
    except OSError as exc:
        raise LabError(f"could not run docker: {exc}") from exc


def services() -> dict[str, dict]:
    """Every service of the compose files, resolved (overrides merged, defaults interpolated);
    {} when compose cannot read them (then starting a component says why)."""
    key = tuple(str(f) for f in files())
    with _config_lock:
        if key not in _configs:
            try:
                result = run(["config", "--format", "json"], timeout=QUICK_TIMEOUT)
                parsed = json.loads(result.stdout).get("services", {}) if result.returncode == 0 else None
            except (LabError, ValueError):
                parsed = None
            if parsed is None:
                return {}  # not cached: Docker may be installed or started later in this kernel
            _configs[key] = parsed
        return _configs[key]


def service(name: str) -> dict | None:
    return services().get(name)


def json_objects(text: str) -> list[dict]:
    """`docker compose ps --format json` prints one array (before Compose 2.21) or one object a line."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
