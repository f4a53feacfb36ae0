"""Lesson 00: read a component's log.

Layer: exercises.
"""
from __future__ import annotations

from ..tools.check import NotYet, register_exercise


@register_exercise("00.1", "read a component's log", answer="redis_version", needs=("redis",))
def check_redis_version(redis_version, lab) -> str:
    import redis

    if not callable(redis_version):
        raise NotYet("define a function `redis_version(lab)` that returns a str")
    found = redis_version(lab)
    client = redis.Redis.from_url(lab.endpoint("redis")["url"], socket_timeout=2)
    try:
        running = client.info("server")["redis_version"]
    finally:
        client.close()
    if not isinstance(found, str):
        raise NotYet(f"return the version as a str such as '7.0.15', not a {type(found).__name__}")
    if found.strip() != running:
        raise NotYet(f"you returned {found!r}, but the running server reports version {running}")
    return f"Redis {running}, confirmed by asking the server (INFO server)."
