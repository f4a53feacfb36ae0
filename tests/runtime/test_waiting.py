"""labs.runtime.waiting: poll_until answers yes/no; wait_ready raises when a probe never passes."""
import time

import pytest

from labs.runtime.waiting import poll_until, wait_ready


def test_poll_until_returns_true_once_the_condition_holds():
    started = time.monotonic()
    assert poll_until(lambda: time.monotonic() - started > 0.05, timeout=2)


def test_poll_until_returns_false_on_timeout_instead_of_raising():
    assert poll_until(lambda: False, timeout=0.05) is False


def test_poll_until_refuses_a_negative_timeout():
    with pytest.raises(ValueError, match="timeout must be a number of seconds from 0 to 3600"):
        poll_until(lambda: True, timeout=-1)


def test_wait_ready_raises_with_the_probe_s_last_error():
    def probe():
        raise ConnectionError("connection refused")
    with pytest.raises(TimeoutError, match="last probe error: connection refused"):
        wait_ready(probe, timeout=0.1, interval=0.02)


def test_wait_ready_stops_early_when_giving_up_names_a_reason():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="exited with code 1"):
        wait_ready(lambda: 1 / 0, timeout=30, interval=0.01, giving_up=lambda: "its server exited with code 1")
    assert time.monotonic() - started < 1
