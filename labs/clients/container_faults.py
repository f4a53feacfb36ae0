"""Faults on a whole component rather than on one link: freeze it, or take it off the network.

Layer: clients. One idea: the Docker-native faults, offered beside the chaos proxy's (and reached
as `labs.chaos.paused` / `labs.chaos.disconnected`).

    from labs import chaos
    with chaos.paused(lab, "redis"):          # every process frozen: connections stay open, no answer
        ...                                   # a client now times out instead of being refused
    with chaos.disconnected(lab, "rabbitmq"): # LABS_BACKEND=docker only: off its Docker network
        ...                                   # new connections are refused, open ones go silent

On the docker backend `paused` is `docker compose pause` (the cgroup freezer) and `disconnected` is
`docker network disconnect`. On the local backend `paused` sends SIGSTOP to the component's process
groups (and SIGCONT after), which freezes them the same way; a local process has no network of its
own to leave, so `disconnected` explains what to use instead. Both undo the fault on leaving the
block, also on an exception.
"""
from __future__ import annotations

import contextlib
import os
import signal
from typing import Iterator

from ..runtime import Lab, LabError


def _component(lab: Lab, name: object):
    if not isinstance(lab, Lab):
        raise ValueError(f"expected the Lab that labs.start returned, got {type(lab).__name__}")
    if not isinstance(name, str):
        raise ValueError(f"name must be a component name like 'redis', one of: {', '.join(lab.names)}")
    return lab.component(name)  # LabError naming the lab's components when it is not one


@contextlib.contextmanager
def paused(lab: Lab, name: str) -> Iterator[None]:
    """Freeze component `name` of `lab` for the duration of the block."""
    component = _component(lab, name)
    lab.endpoint(name)  # waits while it is still starting
    if hasattr(component, "pause"):
        component.pause()
        try:
            yield
        finally:
            component.unpause()
        return
    groups = sorted({os.getpgid(pid) for pid in component.pids()})
    if not groups:
        raise LabError(f"{name} has no running process to pause; start it with labs.start({name!r})")
    for group in groups:
        os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGCONT)


@contextlib.contextmanager
def disconnected(lab: Lab, name: str) -> Iterator[None]:
    """Take component `name` off its Docker network for the duration of the block."""
    component = _component(lab, name)
    lab.endpoint(name)
    if not hasattr(component, "disconnect"):
        raise LabError(f"disconnected() is a Docker-native fault: {name} runs as a local process, which has no "
                       f"network of its own to leave. Start the lab with LABS_BACKEND=docker, or cut the link "
                       f"with a chaos proxy: chaos.proxy(lab, {name!r}).disable()")
    component.disconnect()
    try:
        yield
    finally:
        component.reconnect()
