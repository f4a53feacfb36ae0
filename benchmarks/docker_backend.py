"""`make bench`: the docker backend against the engine in DOCKER_HOST: every component started with
`labs.start()` (each its own compose project, as a lesson does), cold and again after `lab.stop()`,
with each component's seconds to ready; and `docker compose up -d --wait` of the brokers and the proxy to healthy.
Prints that it skipped when no engine answers (`scripts/docker-engine.sh start` as root gives one;
`make test-docker` prints the engine and image figures and each lesson's time on this backend).

    eval "$(scripts/docker-engine.sh env)"
    LABS_COMPOSE_FILE=docker/compose.yaml:docker/compose.offline.yaml .venv/bin/python benchmarks/docker_backend.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import labs
from labs.runtime import compose
from labs.runtime.errors import LabError


def start_all(round_: str) -> None:
    started = time.perf_counter()
    lab = labs.start(backend="docker", progress=False)
    total = time.perf_counter() - started
    ready = {row["name"]: row["ready_s"] for row in lab.status()}
    print(f"labs.start() of all {len(ready)} components, {round_}: {total:.1f} s")
    print("   " + "  ".join(f"{name} {seconds:.1f}" for name, seconds in ready.items()))
    started = time.perf_counter()
    lab.stop()
    print(f"   lab.stop() (in parallel; compose down for the containerised ones): {time.perf_counter() - started:.1f} s")


def compose_up_wait() -> None:
    project = f"labs-bench-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "LABS_UID": str(os.getuid()), "LABS_GID": str(os.getgid())}
    started = time.perf_counter()
    services = ["rabbitmq", "redis", "kafka", "chaos"]  # the lab's services need LABS_DEPENDENCIES: labs.start above
    result = compose.run(["-p", project, "up", "-d", "--wait", *services], env=env, timeout=600)
    took = time.perf_counter() - started
    compose.run(["-p", project, "down", "-v", "-t", "5"], env=env, timeout=120)
    verdict = "healthy" if result.returncode == 0 else f"failed: {compose.last_line(result.stderr)}"
    print(f"docker compose up -d --wait {' '.join(services)} (one project, default ports): {took:.1f} s, {verdict}")


def main() -> int:
    try:
        compose.usable_docker()
    except LabError as exc:
        print(f"docker backend: skipped ({exc})")
        return 0
    engine = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                            text=True).stdout.strip()
    print(f"engine {engine}; compose files: {', '.join(f.name for f in compose.files())}")
    start_all("cold (containers created)")
    start_all("again (new projects, images cached)")
    compose_up_wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
