"""Port reservations: a process's own go at exit, and those of processes that died are swept."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_stale_reservations_are_swept_and_own_ones_released(tmp_path):
    folder = tmp_path / "ports"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    for port in range(1000, 1300):  # what SIGKILLed kernels used to leave, by the hundred
        (folder / str(port)).write_text(dead)
    (folder / "1400").write_text(str(os.getpid()))  # a live process's: kept
    env = {**os.environ, "LABS_STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "from labs.runtime.ports import free_port; print(free_port())"],
                         capture_output=True, text=True, env=env, cwd=REPO, check=True).stdout
    assert int(out) > 0
    assert sorted(p.name for p in folder.iterdir()) == ["1400"]  # the swept and its own released at exit
