"""Temp files a lesson writes (protoc's output, sqlite files) go with the kernel, even after SIGKILL."""
import os
import signal
import subprocess
import sys
from pathlib import Path

from labs.runtime.waiting import poll_until

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import os, sys, sqlite3, tempfile, labs
lab = labs.start("redis", progress=False)
made = tempfile.mkdtemp(prefix="protoc-")
sqlite3.connect(os.path.join(made, "orders.sqlite")).execute("create table t (x)")
print(made, flush=True)
sys.stdin.read()
"""


def _run_until_made(env=None):
    owner = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=REPO, env=env)
    return owner, Path(owner.stdout.readline().strip())


def test_a_lessons_temp_files_are_removed_when_its_kernel_is_killed():
    owner, made = _run_until_made()
    assert (made / "orders.sqlite").is_file()
    assert made.parent.name.startswith(f"tmp-{owner.pid}-")  # the kernel's own folder, in the lab's state dir
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert poll_until(lambda: not made.parent.exists(), timeout=20, interval=0.2)


def test_the_world_differs_with_the_switch_off(tmp_path):
    """LABS_KEEP_TEMP=1 keeps the system's temp dir: then the folder outlives the kernel."""
    env = {**os.environ, "LABS_KEEP_TEMP": "1", "TMPDIR": str(tmp_path)}
    owner, made = _run_until_made(env)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert made.parent == tmp_path and not poll_until(lambda: not made.exists(), timeout=3, interval=0.2)


def test_the_state_dir_stays_the_shared_one_after_the_temp_dir_moves():
    """Port reservations and state files must stay where every process of this user looks."""
    code = ("import labs, tempfile; from labs.runtime.paths import state_root; before = state_root(); "
            "labs.start('redis', progress=False); assert tempfile.gettempdir() != str(before.parent); "
            "print(before == state_root())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "True"
