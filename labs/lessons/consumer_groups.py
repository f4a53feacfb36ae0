"""Lesson 11's consumer groups: members in child processes that share a topic's partitions, and what
each held when one joined, left or was SIGKILLed.

Layer: lessons (imports labs.clients.kafka, the runtime's child-process helper and kafka-python).

    from labs.lessons.consumer_groups import ConsumerGroup
    group = ConsumerGroup(lab, "orders", "billing")
    group.add("m1"); group.add("m2"); group.add("m3")
    group.wait_until_shared(3)          # every partition held, by 3 members
    group.kill("m2"); group.wait_until_shared(2)
    group.plot()                        # who held which partitions, and when

Each member is `python -m labs.lessons.consumer_groups member '<json config>'`, started with
labs.runtime.child.Child: in its own session (so kill() is a real crash) and stopped with the kernel.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any

from kafka.consumer.subscription_state import ConsumerRebalanceListener

from ..clients import kafka as lk
from ..runtime import Lab, args
from ..runtime.child import Child, say
from ..runtime.progress import bar as progress_bar

MAX_MEMBERS = 16


class ConsumerGroup:
    """Members of one consumer group, each a child process, and what each held when.

        group = ConsumerGroup(lab, "orders", "billing")
        group.add("m1"); group.add("m2"); group.add("m3")
        group.wait_until_shared(3)          # every partition held, by 3 members
        group.kill("m2"); group.wait_until_shared(2)
        group.timeline()                    # one row per (member, partitions, from, to)
    """

    def __init__(self, lab: Lab | dict | str, topic: str, group: str) -> None:
        lk.check_topic_name(topic)
        args.text("group", group)
        self.bootstrap, self.topic, self.group = lk.bootstrap(lab), topic, group
        self.settings = lk.consumer_settings(lab)
        self.partitions = len(lk.partitions(lab, topic))
        self.members: dict[str, Child] = {}
        self.marks: list[tuple[float, str]] = []  # (time, what happened) for the plot
        self.started = time.time()

    def add(self, name: str) -> Child:
        if name in self.members:
            raise ValueError(f"member {name!r} exists; members: {', '.join(self.members)}")
        if len(self.members) >= MAX_MEMBERS:
            raise ValueError(f"at most {MAX_MEMBERS} members per group")
        self.marks.append((time.time(), f"{name} starts"))
        config = {"name": name, "bootstrap": self.bootstrap, "topic": self.topic, "group": self.group,
                  "settings": self.settings}
        member = Child(__name__, "member", json.dumps(config), name=args.text("name", name),
                       env={"PYTHONWARNINGS": "ignore"})  # kafka-python's deprecation notes
        self.members[name] = member
        return member

    def kill(self, name: str) -> None:
        self.marks.append((self._member(name).kill(), f"{name} killed"))

    def leave(self, name: str) -> None:
        self.marks.append((self._member(name).stop(), f"{name} leaves"))

    def _member(self, name: str) -> Child:
        if name not in self.members:
            raise ValueError(f"no member {name!r}; members: {', '.join(self.members) or 'none'}")
        return self.members[name]

    def assignment(self) -> dict[str, list[int]]:
        """What each live member holds now, by its own latest report."""
        held = {}
        for name, member in self.members.items():
            if not member.alive:
                continue
            latest = [e for e in list(member.events) if e.get("event") in ("assigned", "revoked")]
            held[name] = latest[-1]["partitions"] if latest and latest[-1]["event"] == "assigned" else []
        return held

    def wait_until_shared(self, members: int, timeout: float = 30.0) -> float:
        """Wait until `members` live members hold every partition between them, each a different
        share; returns the time (time.time()) it happened."""
        args.whole("members", members, 1, MAX_MEMBERS)
        deadline = time.monotonic() + timeout
        shown = 0
        with progress_bar(members, f"waiting for {members} member(s) to share {self.partitions} partitions",
                          "member") as bar:
            while time.monotonic() < deadline:
                held = self.assignment()
                owned = [p for parts in held.values() for p in parts]
                holding = sum(1 for parts in held.values() if parts)
                if holding > shown:
                    bar.update(min(holding, members) - shown)
                    shown = min(holding, members)
                if (holding == members and len(held) == members
                        and sorted(owned) == list(range(self.partitions))):
                    return max(e["t"] for m in self.members.values() for e in list(m.events)
                               if e.get("event") == "assigned")
                time.sleep(0.05)
        raise TimeoutError(f"group {self.group!r}: not shared by {members} members within {timeout:g} s; "
                           f"now {self.assignment()}")

    def timeline(self) -> list[dict]:
        """One row per stretch a member held a set of partitions: member, partitions, start, end (s)."""
        rows, now = [], time.time()
        for name, member in self.members.items():
            current: dict | None = None
            for e in list(member.events):
                if e.get("event") in ("assigned", "revoked", "exited", "left") and current is not None:
                    current["end"] = e["t"] - self.started
                    rows.append(current)
                    current = None
                if e.get("event") == "assigned" and e["partitions"]:
                    current = {"member": name, "partitions": e["partitions"], "start": e["t"] - self.started}
            if current is not None:
                current["end"] = now - self.started
                rows.append(current)
        return rows

    def plot(self, title: str = "who holds which partitions"):
        """The timeline as bars per member (labelled with partitions) and a line at each event."""
        import matplotlib.pyplot as plt

        rows, names = self.timeline(), list(self.members)
        fig, ax = plt.subplots(figsize=(9, 0.6 + 0.55 * len(names)))
        for row in rows:
            y = names.index(row["member"])
            ax.broken_barh([(row["start"], row["end"] - row["start"])], (y - 0.35, 0.7), alpha=0.6)
            ax.text(row["start"] + 0.05, y, "p" + ",".join(map(str, row["partitions"])), va="center", fontsize=8)
        for at, what in self.marks:
            if "starts" not in what:
                ax.axvline(at - self.started, color="red", linestyle="--", linewidth=1)
                ax.text(at - self.started - 0.05, -0.45, what, color="red", fontsize=8, ha="right", va="bottom")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlim(left=0)
        ax.set_xlabel("seconds since the first member started")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig

    def close(self) -> None:
        for member in self.members.values():
            if member.alive:
                member.kill()


def _member_main(config: dict) -> None:
    """A group member: subscribe, report every assignment, keep polling; leave on SIGTERM."""
    name, stop = config["name"], threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def say(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "member": name, "t": time.time(), **fields}), flush=True)

    class Report(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            say("revoked", partitions=[])

        def on_partitions_assigned(self, assigned):
            say("assigned", partitions=sorted(tp.partition for tp in assigned))

    consumer = lk.consumer(config["bootstrap"], group_id=config["group"], client_id=name, **config["settings"])
    consumer.subscribe([config["topic"]], listener=Report())
    say("started")
    while not stop.is_set():
        consumer.poll(timeout_ms=100)
    consumer.close()  # sends LeaveGroup: the others get the partitions without waiting for a timeout
    say("left")


def _member_main(config: dict) -> None:
    """A group member: subscribe, report every assignment, keep polling; leave on SIGTERM."""
    name, stop = config["name"], threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    class Report(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            say("revoked", member=name, partitions=[])

        def on_partitions_assigned(self, assigned):
            say("assigned", member=name, partitions=sorted(tp.partition for tp in assigned))

    consumer = lk.consumer(config["bootstrap"], group_id=config["group"], client_id=name, **config["settings"])
    consumer.subscribe([config["topic"]], listener=Report())
    say("started", member=name)
    while not stop.is_set():
        consumer.poll(timeout_ms=100)
    consumer.close()  # sends LeaveGroup: the others get the partitions without waiting for a timeout
    say("left", member=name)


if __name__ == "__main__":  # python -m labs.lessons.consumer_groups member '<json config>'
    if sys.argv[1:2] != ["member"] or len(sys.argv) != 3:
        sys.exit("usage: python -m labs.lessons.consumer_groups member '<json config>'")
    _member_main(json.loads(sys.argv[2]))
