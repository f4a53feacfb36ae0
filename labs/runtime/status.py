"""What runs on this machine for this user, from the state files components write when ready.

Layer: runtime.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import psutil

from .component import state_root
from .reaper import stop_group


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running_components() -> list[dict]:
    rows = []
    for path in sorted(state_root().glob("*/state.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pids = state.get("pids", [])
        if state.get("backend") == "docker":
            from .docker import running_project
            alive = running_project(state.get("project", ""))
        else:
            alive = bool(pids) and all(_alive(p) for p in pids)
        rows.append({**state, "alive": alive, "owner_alive": _alive(state.get("owner", -1))})
    return rows


def clean_orphans() -> list[str]:
    """Stop components whose owning process is gone (normally the watchdog already did)."""
    done = []
    for row in running_components():
        if row["owner_alive"]:
            continue
        for pid in row.get("pids", []):
            if _alive(pid):
                stop_group(pid)
        if row.get("down"):  # a docker-backend project: `docker compose ... down -v`
            try:
                subprocess.run(row["down"], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                done.append(f"could not remove {row['name']}'s containers ({exc}); run: {' '.join(row['down'])}")
                continue
        shutil.rmtree(row["data_dir"], ignore_errors=True)
        done.append(f"stopped {row['name']} left behind by pid {row['owner']}")
    return done or ["nothing to clean"]
