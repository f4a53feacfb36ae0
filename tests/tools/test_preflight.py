"""Pre-flight: names what cannot run and its fix in one verdict line, exits 1; OK and exit 0 otherwise."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labs.tools.preflight import lessons_needing

pytestmark = pytest.mark.brokers


def _preflight(*names: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LABS_PROGRESS": "0"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "labs", "preflight", "--quiet", *names], env=env,
                          capture_output=True, text=True, timeout=300)


def _verdict(run: subprocess.CompletedProcess) -> str:
    return next(line for line in run.stdout.splitlines() if line.startswith("preflight "))


def test_a_path_that_hides_rabbitmq_names_it_and_the_fix_and_exits_1():
    # Only the virtualenv's bin: no erl, which RabbitMQ's start (script or direct) runs from PATH.
    run = _preflight("rabbitmq", "redis", path=str(Path(sys.executable).parent))
    assert run.returncode == 1, run.stdout + run.stderr
    verdict = _verdict(run)
    assert verdict.startswith("preflight FAILED") and "rabbitmq:" in verdict
    assert "fix:" in verdict and "rabbitmq-server" in verdict  # the package that provides Erlang and the broker
    assert "redis" not in verdict  # Redis is fine without it
    assert run.stdout.rstrip().splitlines()[-1].startswith("labs preflight: FAILED (rabbitmq)")


def test_on_a_complete_machine_it_says_ok_and_exits_0():
    run = _preflight("redis", "kafka", "users")
    assert run.returncode == 0, run.stdout + run.stderr
    assert _verdict(run).startswith("preflight OK") and "every lesson can run" in _verdict(run)
    last = run.stdout.rstrip().splitlines()[-1]
    assert last.startswith("labs preflight: OK 3/3") and "Python" in last
    assert "ok    users" in run.stdout and "round trip" in run.stdout


def test_the_notebooks_say_which_lessons_need_which_component():
    needs = lessons_needing()
    assert "09" in needs["rabbitmq"] and "09" in needs["redis"]
    assert "11" in needs["kafka"] and "11" not in needs["redis"]
    assert "00" in needs["chaos"]  # lesson 00 starts every component


def test_unknown_names_are_refused_with_the_choices():
    run = _preflight("rabbit")
    assert run.returncode == 2 and "choose from: rabbitmq" in run.stderr
