"""Faults on a whole component (labs.chaos.paused / disconnected) on the local backend; the docker
backend's are in tests/runtime/test_docker_engine.py (a real engine)."""
import pytest
import redis

from labs import LabError, chaos


def _ping(lab) -> bool:
    return redis.Redis.from_url(lab.endpoint("redis")["url"], socket_timeout=0.5).ping()


def test_paused_freezes_the_component_and_resumes_it_after_the_block(brokers):
    assert _ping(brokers)
    with chaos.paused(brokers, "redis"):
        with pytest.raises(redis.TimeoutError):  # connected, but nobody answers: not refused
            _ping(brokers)
    assert _ping(brokers)


def test_paused_resumes_also_when_the_block_raises(brokers):
    with pytest.raises(ZeroDivisionError):
        with chaos.paused(brokers, "redis"):
            1 / 0
    assert _ping(brokers)


def test_disconnected_on_the_local_backend_says_what_to_use_instead(brokers):
    with pytest.raises(LabError, match="LABS_BACKEND=docker.*chaos.proxy"):
        with chaos.disconnected(brokers, "redis"):
            pass


@pytest.mark.parametrize("lab, name, error, fragment", [
    (None, "redis", ValueError, "the Lab that labs.start returned"),
    ("brokers", 3, ValueError, "component name like 'redis'"),
    ("brokers", "users", LabError, "not part of this lab"),
])
def test_bad_arguments_are_refused_clearly(brokers, lab, name, error, fragment):
    with pytest.raises(error, match=fragment):
        with chaos.paused(brokers if lab == "brokers" else lab, name):
            pass
