"""labs.runtime.child: a lesson's child process reports events, says why it died, and dies with us."""
import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from labs.runtime.child import Child, ChildExited
from labs.runtime.waiting import poll_until

SPEAKER = "tests.runtime.child_speaker"  # a tiny child: see child_speaker.py


def test_events_arrive_in_order_and_plain_lines_are_kept_apart():
    with Child(SPEAKER, "talk", name="speaker") as child:
        ready = child.wait_for("ready", timeout=20)
        assert ready["n"] == 1
        assert child.wait_for("done", timeout=20)["n"] == 2
        child.wait_for("exited", timeout=10)
    assert [e["event"] for e in child.events] == ["ready", "done", "exited"]
    assert child.lines == ["not json, kept as a line"]
    assert child.exit_code == 0 and not child.alive


def test_a_child_that_dies_early_quotes_its_stderr():
    child = Child(SPEAKER, "fail", name="broken")
    with pytest.raises(ChildExited, match=r"(?s)broken exited with code 3 before 'ready'.*the database is gone"):
        child.wait_for("ready", timeout=20)


def test_kill_is_a_crash_and_stop_asks_politely_first():
    crashed = Child(SPEAKER, "linger", name="crash")
    crashed.wait_for("ready", timeout=20)
    crashed.kill()
    assert crashed.exit_code == -signal.SIGKILL
    polite = Child(SPEAKER, "linger", name="polite")
    polite.wait_for("ready", timeout=20)
    polite.stop()
    assert polite.wait_for("said goodbye", timeout=5)
    assert polite.exit_code == 0


def test_waiting_too_long_raises_a_timeout_naming_the_event():
    with Child(SPEAKER, "linger", name="slow") as child:
        with pytest.raises(TimeoutError, match="slow: no 'never' within 0.2 s"):
            child.wait_for("never", timeout=0.2)


PARENT = textwrap.dedent("""
    import time
    from labs.runtime.child import Child
    child = Child("tests.runtime.child_speaker", "linger", name="orphan")
    child.wait_for("ready", timeout=20)
    print(child.pid, flush=True)
    time.sleep(60)
""")


def test_a_child_dies_with_the_process_that_started_it_even_on_sigkill():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=root)
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert poll_until(lambda: not psutil.pid_exists(child_pid)
                      or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE, 15)


def test_a_bad_name_is_refused():
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        Child(SPEAKER, "talk", name="")
