"""Services forked from the warm interpreter behave like spawned ones: own session, own log, stop,
kill, restart, gone with their kernel; and without the fork server they are spawned as before."""
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

import labs
from labs.runtime import forkserver
from labs.runtime.component import LocalComponent
from labs.runtime.lab import _session
from labs.runtime.process import ManagedProcess, ProcessSpec
from labs.runtime.reaper import Reaper

pytestmark = pytest.mark.skipif(not forkserver.usable(), reason="the fork server runs on Linux only")


def _server_pid(pid: int) -> int:
    return psutil.Process(pid).ppid()


def _own(name: str) -> LocalComponent:
    """An instance of its own (not the session's, which other tests share)."""
    comp = LocalComponent(labs.runtime.get_spec(name), {}, _session.reaper)
    comp.extra_env = {"LABS_DEPENDENCIES": "{}"}
    comp.start()
    return comp


def test_a_service_is_forked_into_its_own_session_and_logs_to_its_own_file():
    comp = _own("notifications")
    try:
        pid = comp.pids()[0]
        assert os.getpgid(pid) == pid  # its own process group: stop()/kill() take the whole tree
        parent = psutil.Process(_server_pid(pid))
        assert parent.pid != os.getpid() and "zygote.py" in " ".join(parent.cmdline())
        assert "forked from the warm interpreter" in comp.logs()
        assert "notifications: gRPC on" in comp.logs()
        comp.kill()
        assert comp._procs[0].exit_code() == -signal.SIGKILL
        comp.restart()
        assert comp.pids()[0] != pid and comp.alive()
    finally:
        comp.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_without_the_fork_server_a_service_is_spawned(monkeypatch):
    monkeypatch.setenv("LABS_FORKSERVER", "0")
    comp = _own("notifications")
    try:
        assert _server_pid(comp.pids()[0]) == os.getpid()
    finally:
        comp.stop()


def test_a_fork_server_failure_falls_back_to_a_new_interpreter(tmp_path):
    spec = ProcessSpec([sys.executable, "-m", "json.tool", "--help"], preload=("no_such_module_here",))
    proc = forkserver.process_for(spec, tmp_path / "x.log", Reaper())
    assert isinstance(proc, forkserver.ForkedProcess)
    proc.start()
    assert proc.popen.wait(timeout=20) == 0
    log = (tmp_path / "x.log").read_text()
    assert "ModuleNotFoundError" in log and "starting a new interpreter instead" in log
    assert isinstance(forkserver.process_for(ProcessSpec(["true"]), tmp_path / "y.log", Reaper()), ManagedProcess)


def test_a_forked_child_reports_its_exit_code(tmp_path):
    argv = [sys.executable, "-m", "json.tool", str(tmp_path / "missing.json")]
    spawned = subprocess.run(argv, capture_output=True).returncode
    proc = forkserver.process_for(ProcessSpec(argv, preload=("json",)), tmp_path / "x.log", Reaper())
    proc.start()
    assert proc.popen.wait(timeout=20) == spawned != 0
    assert "forked from the warm interpreter" in (tmp_path / "x.log").read_text()


def test_forked_services_die_with_a_sigkilled_kernel():
    code = ("import labs; lab = labs.start('users', progress=False); "
            "print(lab.component('users').pids()[0], flush=True); import time; time.sleep(600)")
    kernel = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "LABS_PROGRESS": "0"})
    pid = int(kernel.stdout.readline())
    server = _server_pid(pid)
    kernel.kill()
    kernel.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        alive = [p for p in (pid, server) if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"left behind after the kernel's SIGKILL: {alive}")
