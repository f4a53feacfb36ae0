"""A learner's seat on a class server: with LABS_CLASS set, `labs.start` uses the class's brokers.

    export LABS_CLASS=/srv/class/seats/seat-07.json   # written by `python -m labs serve-class`
    lab = labs.start("rabbitmq", "kafka")             # the seat's vhost and its own Kafka broker
    lab.endpoint("rabbitmq")                           # {"amqp": "amqp://seat07:...@host:port/seat07", ...}

Layer: runtime. One idea: which components a seat provides, and their endpoints (credentials, vhost
and addresses included), so lesson code runs unchanged. Components the seat does not provide (the
ticketing services, chaos) run in the learner's kernel as usual.

A seat file holds {"class": name, "seat": n, "components": {name: endpoint}}; it is the learner's
secret (its credentials are all that keeps other learners out), so it is written readable by its
owner only.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import LabError

_cache: dict[tuple[str, float], dict] = {}


def seat_file() -> Path | None:
    value = os.environ.get("LABS_CLASS", "").strip()
    return Path(value).expanduser() if value else None


def seat() -> dict | None:
    """The seat LABS_CLASS names, or None without LABS_CLASS. LabError when the file is unusable."""
    path = seat_file()
    if path is None:
        return None
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise LabError(f"LABS_CLASS={path}: no such seat file; ask your instructor for yours, or unset "
                       "LABS_CLASS to run every component on this machine") from None
    if key not in _cache:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data.get("components"), dict):
                raise ValueError("no 'components'")
        except (OSError, ValueError) as exc:
            raise LabError(f"LABS_CLASS={path} is not a seat file written by `python -m labs serve-class` "
                           f"({exc})") from None
        _cache[key] = data
    return _cache[key]


def seat_endpoint(component: str) -> dict[str, str] | None:
    """The endpoint the seat gives `component`, or None (no seat, or the seat does not provide it)."""
    current = seat()
    endpoint = current["components"].get(component) if current else None
    return dict(endpoint) if endpoint else None


def describe() -> str:
    current = seat()
    return f"seat {current.get('seat')} of class {current.get('class')!r} ({seat_file()})" if current else ""
