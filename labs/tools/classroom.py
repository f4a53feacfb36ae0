"""One server for a whole class: `python -m labs serve-class --seats 30`.

    server = ClassServer(seats=30, folder=Path("class"))   # host="127.0.0.1" unless told otherwise
    server.start()      # one RabbitMQ: a vhost and a user per seat; per seat a Redis and a Kafka broker
    server.memory()     # bytes held by every broker of the class
    server.stop()       # also what Ctrl-C, SIGTERM and (through the reaper) SIGKILL do

Each learner then sets LABS_CLASS to their seat file (`class/seats/seat-07.json`) and runs the same
lessons: `labs.start("rabbitmq")` gives the seat's vhost, with its credentials in the endpoint.

Layer: tools. One idea: the brokers of a class, isolated per learner by credentials where the broker
has them.

- RabbitMQ, one for the class (~150 MiB): vhost `seatNN`, user `seatNN` with a password of its own and
  every permission there, none elsewhere; tagged `management`, so `lab.reset()` can delete what its
  vhost holds through the management API. guest is deleted.
- Redis, one small server per seat (~10 MiB) with the seat's password. One shared Redis with an ACL
  user and a key prefix per learner would need every lesson to prefix its keys and channels (lesson
  10's `orders.completed` channel would be refused, NOPERM); a server per seat keeps lesson code
  unchanged and refuses other seats' passwords just as firmly.
- Kafka, one Tansu per seat (~20 MiB): lessons name topics and groups freely. Tansu has no
  authentication: a learner who learns another seat's port can reach that broker. Credentials protect
  RabbitMQ and Redis only.

Everything binds 127.0.0.1 unless `host` names the address learners reach the server at (a
JupyterHub machine's learners are on the same host; laptops on a LAN need the LAN address).
Seat files are written readable by their owner only: hand each learner their own, or (as root on a
JupyterHub machine) name the learners' Unix users with `owners` and set each one's LABS_CLASS in the
spawner's environment.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..components import rabbitmq_control
from ..components.brokers import Kafka, RabbitMQ, Redis
from ..runtime import args
from ..runtime.component import LocalComponent
from ..runtime.errors import LabError
from ..runtime.lab import session_reaper
from ..runtime.ports import HOST

MAX_SEATS = 200
COMPONENTS = ("rabbitmq", "redis", "kafka")
STARTING_AT_ONCE = 8  # broker starts in flight together (2 cores: more only queue up)


def _spec(base: type, host: str, **attributes):
    spec = type(f"Class{base.__name__}", (base,), {"host": host})()
    for key, value in attributes.items():
        setattr(spec, key, value)
    return spec


class ClassServer:
    def __init__(self, seats: int, folder: Path | str = "class", host: str = HOST, name: str = "workshop",
                 components: tuple[str, ...] = COMPONENTS, owners: list[str] | None = None) -> None:
        self.seats = args.whole("seats", seats, 1, MAX_SEATS)
        self.host = args.text("host", host)
        self.name = args.text("name", name)
        unknown = [c for c in components if c not in COMPONENTS]
        if unknown or not components:
            raise ValueError(f"components must be some of {', '.join(COMPONENTS)}, got {list(components)}")
        self.components = tuple(components)
        self.folder = Path(folder)
        # Unix users, one per seat in order (a JupyterHub machine's learners): each seat file is then
        # given to its learner, so no learner can read another's credentials.
        self.owners = list(owners or [])
        if len(self.owners) > self.seats:
            raise ValueError(f"{len(self.owners)} owners for {self.seats} seats: give at most one owner per seat")
        for user in self.owners:
            _uid(user)
        self.passwords = {n: secrets.token_urlsafe(12) for n in range(1, self.seats + 1)}
        self.rabbitmq: LocalComponent | None = None
        self.redis: dict[int, LocalComponent] = {}
        self.kafka: dict[int, LocalComponent] = {}
        self.started_seconds: float | None = None

    @staticmethod
    def seat_name(n: int) -> str:
        return f"seat{n:02d}"

    # ---- start and stop ---------------------------------------------------------------------------

    def start(self, progress=None) -> "ClassServer":
        """Start every broker (in parallel), create the seats, write the seat files."""
        started = time.monotonic()
        reaper = session_reaper()
        jobs: list[LocalComponent] = []
        if "rabbitmq" in self.components:
            self.rabbitmq = LocalComponent(_spec(RabbitMQ, self.host), {"management": True}, reaper)
            jobs.append(self.rabbitmq)
        for n in range(1, self.seats + 1):
            if "redis" in self.components:
                self.redis[n] = LocalComponent(_spec(Redis, self.host, password=self.passwords[n]), {}, reaper)
                jobs.append(self.redis[n])
            if "kafka" in self.components:
                self.kafka[n] = LocalComponent(_spec(Kafka, self.host), {}, reaper)
                jobs.append(self.kafka[n])
        try:
            with ThreadPoolExecutor(STARTING_AT_ONCE) as pool:
                for _ in pool.map(self._start_one, jobs):
                    if progress is not None:
                        progress.update(1)
            if self.rabbitmq is not None:
                seats = [(self.seat_name(n), self.seat_name(n), pw) for n, pw in self.passwords.items()]
                rabbitmq_control.add_users(self.rabbitmq.data_dir, seats)
            self._write_files()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started
        return self

    @staticmethod
    def _start_one(comp: LocalComponent) -> None:
        comp.extra_env = {}
        comp.start()

    def stop(self) -> None:
        comps = [c for c in [self.rabbitmq, *self.redis.values(), *self.kafka.values()] if c is not None]
        threads = [threading.Thread(target=c.stop) for c in comps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for path in self.seat_files() + [self.folder / "class.json"]:
            path.unlink(missing_ok=True)  # the credentials die with the brokers

    def __enter__(self) -> "ClassServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- what learners get -------------------------------------------------------------------------

    def seat(self, n: int) -> dict:
        """Seat `n`'s file contents: the endpoint of each component the class provides."""
        args.whole("seat", n, 1, self.seats)
        name, password = self.seat_name(n), self.passwords[n]
        components: dict[str, dict[str, str]] = {}
        if self.rabbitmq is not None:
            rabbit = self.rabbitmq.endpoint
            address = rabbit["amqp"].rsplit("@", 1)[1].split("/", 1)[0]
            components["rabbitmq"] = {"amqp": f"amqp://{name}:{password}@{address}/{name}",
                                      "management": rabbit["management"]}
        if n in self.redis:
            components["redis"] = self.redis[n].endpoint
        if n in self.kafka:
            components["kafka"] = self.kafka[n].endpoint
        return {"class": self.name, "seat": n, "components": components}

    def seat_files(self) -> list[Path]:
        return [self.folder / "seats" / f"seat-{n:02d}.json" for n in range(1, self.seats + 1)]

    def _write_files(self) -> None:
        (self.folder / "seats").mkdir(parents=True, exist_ok=True, mode=0o700 if not self.owners else 0o711)
        for n, path in enumerate(self.seat_files(), start=1):
            _write_private(path, self.seat(n))
            if n <= len(self.owners):
                os.chown(path, _uid(self.owners[n - 1]), -1)
        _write_private(self.folder / "class.json", {
            "class": self.name, "host": self.host, "seats": [self.seat(n) for n in range(1, self.seats + 1)]})

    # ---- figures -----------------------------------------------------------------------------------

    def memory(self) -> dict[str, int]:
        """Resident bytes per kind of broker, and in total."""
        rows = {"rabbitmq": self.rabbitmq.rss_bytes() if self.rabbitmq else 0,
                "redis": sum(c.rss_bytes() for c in self.redis.values()),
                "kafka": sum(c.rss_bytes() for c in self.kafka.values())}
        rows["total"] = sum(rows.values())
        return rows

    def summary(self) -> str:
        mem = self.memory()
        mib = {k: v / 2**20 for k, v in mem.items()}
        parts = [f"{k} {mib[k]:.0f} MiB" for k in COMPONENTS if k in self.components]
        return (f"class {self.name!r}: {self.seats} seats on {self.host} in {self.started_seconds or 0:.1f} s; "
                f"brokers hold {mib['total']:.0f} MiB ({', '.join(parts)}); seat files in "
                f"{self.folder / 'seats'} (LABS_CLASS=<seat file>)")


def _uid(user: str) -> int:
    import pwd
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ValueError(f"owner {user!r} is not a user of this machine") from None


def _write_private(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)


def check_host(host: str) -> str:
    """The address to bind: loopback, or an address of this machine (never 0.0.0.0: seat files must
    name an address learners can reach)."""
    import socket
    if host in ("0.0.0.0", "::", ""):
        raise LabError("--host must be the address learners reach this machine at (e.g. 192.168.1.20), "
                       "not 0.0.0.0: it is also the address written into every seat file")
    try:
        with socket.socket() as probe:
            probe.bind((host, 0))
    except OSError as exc:
        raise LabError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    return host
