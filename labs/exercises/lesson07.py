"""Lesson 07: a concerts client that keeps working while every instance moves to new ports.

Layer: exercises.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from ..clients import registry
from ..runtime import start
from ..runtime.progress import bar
from ..tools.check import NotYet, register_exercise

CALLS_PER_S = 50
AFTER_S = 0.5  # the client keeps calling this long after the last move
LESSON_SETUP = {"concerts": {"replicas": 3, "register_ttl": 3}}  # what the lesson's first cell starts


def _registered_replicas(lab):
    """The lab's concerts instances if they register themselves; else the lesson's setup, started."""
    options = lab.component("concerts").options
    if options.get("replicas", 1) >= 2 and options.get("register_ttl"):
        return lab.replicas("concerts")
    return start("etcd", "concerts", options=LESSON_SETUP, progress=False).replicas("concerts")


def _call(client, stop: threading.Event, log: list) -> None:
    while not stop.is_set():
        sent = time.time()
        try:
            response = client.get("/concerts")
            outcome = "ok" if response.status_code < 500 else f"HTTP {response.status_code}"
        except Exception as exc:  # whatever the learner's client raises is a failed call
            outcome = type(exc).__name__
        log.append((sent, outcome))
        stop.wait(1 / CALLS_PER_S)


@register_exercise("07.1", "make a client survive an instance moving", answer="ConcertsClient",
                   needs=("etcd", "concerts"))
def check_survives_moves(ConcertsClient, lab) -> str:
    if not callable(ConcertsClient):
        raise NotYet("define a class `ConcertsClient(etcd)` with a method `get(path)`")
    replicas = _registered_replicas(lab)
    etcd = registry.connect(lab)
    client = ConcertsClient(etcd)
    if not callable(getattr(client, "get", None)):
        raise NotYet("ConcertsClient needs a method `get(path)` that returns the httpx response")
    log: list[tuple[float, str]] = []
    stop = threading.Event()
    caller = threading.Thread(target=_call, args=(client, stop, log), daemon=True)
    caller.start()
    moves = []
    try:
        time.sleep(0.3)
        with bar(total=len(replicas), desc="moving every concerts instance", unit="move") as progress:
            for replica in replicas:  # a rolling redeploy: each instance comes back on other ports
                old = replica.endpoint["http"]
                replica.restart(new_ports=True)
                moves.append((old, replica.endpoint["http"], time.time()))
                progress.update(1)
        time.sleep(AFTER_S)
    finally:
        stop.set()
        caller.join(timeout=10)
        if hasattr(client, "close"):
            try:
                client.close()
            except Exception:
                pass
    failed = [(t, outcome) for t, outcome in log if outcome != "ok"]
    after_last_move = [o for t, o in log if t > moves[-1][2]]
    if not log:
        raise NotYet("your client made no call: does get() return?")
    if failed:
        first = min(t for t, _ in failed) - log[0][0]
        kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(o for _, o in failed).most_common())
        raise NotYet(f"{len(failed)} of {len(log)} calls failed while the {len(moves)} instances moved "
                     f"({kinds}; the first {first:.1f} s in). An address looked up once dies with its "
                     f"instance: watch /services/concerts/ (or look it up again on every call), and try a "
                     f"failed call once more on another instance")
    if len(after_last_move) < 3:
        raise NotYet(f"only {len(after_last_move)} calls came back after the last move: is get() blocking?")
    return (f"{len(log)} calls, 0 failed, while all {len(moves)} instances moved to new ports "
            f"(e.g. {moves[0][0]} -> {moves[0][1]})")
