"""Several instances of one component, each on its own ports, killed and moved one at a time.

Layer: runtime. One idea: a component started with the option "replicas" is N local components
under one name.

    lab = labs.start("concerts", options={"concerts": {"replicas": 3}})
    first, second, third = lab.replicas("concerts")    # each a component of its own: concerts-1, ...
    second.endpoint                  # {"http": "http://127.0.0.1:P", "grpc": "127.0.0.1:Q"}
    second.kill()                    # SIGKILL, as a crash would
    second.restart(new_ports=True)   # back on fresh ports: the instance moved
    lab.endpoint("concerts")         # the first replica that is up, so code written for one still works

Only specs with `max_replicas` above 1 accept the option, and only the local backend runs them.
"""
from __future__ import annotations

import threading

from .component import Component, ComponentSpec, LocalComponent
from .errors import LabError
from .reaper import Reaper


def _each(replicas: list[LocalComponent], action: str) -> list[BaseException]:
    """Run `action` on every replica at once (a service takes ~1.5 s to start); the errors raised."""
    errors: list[BaseException] = []

    def run(replica: LocalComponent) -> None:
        try:
            getattr(replica, action)()
        except BaseException as exc:  # kept, so the other replicas finish first
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,), name=f"labs-{action}-{r.name}") for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


class ReplicatedComponent(Component):
    """`replicas` LocalComponents named "<name>-1" ... "<name>-N"; the lab's verbs act on all of them."""

    def __init__(self, spec: ComponentSpec, options: dict, reaper: Reaper):
        self.spec, self.name, self.options = spec, spec.name, options
        self.replicas = [LocalComponent(spec, options, reaper, name=f"{spec.name}-{n}")
                         for n in range(1, options["replicas"] + 1)]

    @property
    def endpoint(self) -> dict[str, str]:
        up = [r for r in self.replicas if r.state == "ready" and r.alive()]
        return (up or self.replicas)[0].endpoint

    def start(self) -> None:
        self.state, self.error = "starting", None
        for replica in self.replicas:
            replica.extra_env = self.extra_env  # LABS_DEPENDENCIES, set by the session before start
        errors = _each([r for r in self.replicas if not (r.state == "ready" and r.alive())], "start")
        if errors:
            self.state, self.error = "failed", errors[0]
            raise errors[0]
        self.ready_seconds = max(r.ready_seconds or 0.0 for r in self.replicas)
        self.state = "ready"

    def stop(self, keep_data: bool = False) -> None:
        for replica in self.replicas:
            replica.stop(keep_data=keep_data)
        self.state = "stopped"

    def kill(self) -> None:
        _each(self.replicas, "kill")
        self.state = "killed"

    def restart(self) -> None:
        self.stop(keep_data=True)
        self.start()

    def reset(self) -> str | None:
        said = {r.reset() for r in self.replicas}  # each replica keeps its own data: each is reset
        return f"{len(self.replicas)} replicas: " + "; ".join(s for s in said if s) if said - {None} else None

    def alive(self) -> bool:
        return all(r.alive() for r in self.replicas)

    def logs(self, lines: int = 50) -> str:
        return "\n".join(f"=== {r.name}\n{r.logs(lines)}" for r in self.replicas)

    def rss_bytes(self) -> int:
        return sum(r.rss_bytes() for r in self.replicas)

    def pids(self) -> list[int]:
        return [pid for r in self.replicas for pid in r.pids()]

    def listeners(self) -> list[str]:
        return sorted({addr for r in self.replicas for addr in r.listeners()})


def create(spec: ComponentSpec, options: dict, reaper: Reaper, backend: str) -> ReplicatedComponent:
    if backend != "local":
        raise LabError(f"replicas of {spec.name} run on the local backend only; start it with backend='local'")
    return ReplicatedComponent(spec, options, reaper)
