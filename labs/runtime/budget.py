"""Room for the next lesson in a small box: stop the user's idle lesson kernels before starting more.

Layer: runtime. One idea: in a box with little memory (Binder: 2 GiB), `labs.start` first makes
room by shutting down the oldest *idle* kernels of the same Jupyter server (each holds ~0.2 GiB
itself and ~0.4 GiB of components), and says which, so that lessons opened one after another
without closing any stay under the box's limit. Elsewhere it does nothing.

    from labs.runtime import budget
    budget.make_room()      # what labs.start calls; returns the lines it printed
    budget.memory()         # Memory(limit=2147483648, used=1234567890) of this box, or None

A box is small when its memory limit (the cgroup's, as a container or Binder sets it; else the
machine's) is at most LABS_SMALL_BOX_GIB (default 4). There a lesson may start while the box uses
at most CEILING of the limit minus NEED (what a lesson adds: its components and its kernel's growth).
Kernels are asked to stop through the Jupyter server's own API (DELETE /api/sessions/ID, as closing
a notebook's kernel from the UI does), so the notebook stays open and running its cells starts a fresh
kernel (JupyterLab shows "No Kernel" until then).
A kernel that is running a cell is never stopped; nor is anything outside this kernel's own server.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CEILING = 0.9        # of the limit: 1.8 GiB of Binder's 2 GiB
NEED = 0.7 * 2**30   # what one lesson adds at its peak (measured: 0.4-0.5 GiB of components, kernel growth)
SETTLE_SECONDS = 15  # how long to wait for a stopped kernel's memory to come back


@dataclass
class Memory:
    limit: int
    used: int  # the working set: what cannot be dropped (page cache that can, is left out)


def _cgroup_memory(proc_cgroup: Path = Path("/proc/self/cgroup"),
                   sys_root: Path = Path("/sys/fs/cgroup")) -> Memory | None:
    """The memory limit and working set of this process's cgroup (v2, or v1's memory controller)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            root = sys_root
            limit_file, usage_file, inactive = "memory.max", "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):  # v1
            root = sys_root / "memory"
            limit_file, usage_file, inactive = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
        else:
            continue
        # Our own cgroup; in a container whose /sys/fs/cgroup is already its own, the root of it.
        for folder in (root / path.lstrip("/"), root):
            try:
                raw = (folder / limit_file).read_text().strip()
                usage = int((folder / usage_file).read_text())
                stat = dict(l.split() for l in (folder / "memory.stat").read_text().splitlines())
            except (OSError, ValueError):
                continue
            limit = 1 << 62 if raw == "max" else int(raw)
            return Memory(limit, usage - int(stat.get(inactive, 0)))
    return None


def memory() -> Memory | None:
    found = _cgroup_memory()
    if found is not None and found.limit < 1 << 50:
        return found
    try:
        import psutil
        vm = psutil.virtual_memory()
        return Memory(vm.total, vm.total - vm.available)
    except Exception:
        return found


def small_box(mem: Memory | None) -> bool:
    gib = float(os.environ.get("LABS_SMALL_BOX_GIB", "4"))
    return mem is not None and mem.limit <= gib * 2**30


def _my_kernel_id() -> str | None:
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file
        name = Path(get_connection_file()).name  # kernel-<id>.json
    except Exception:
        return None
    return name.removeprefix("kernel-").removesuffix(".json") if name.startswith("kernel-") else None


def _servers() -> list[dict]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return []
    found = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def _api(server: dict, method: str, path: str):
    import httpx
    url = server["url"].rstrip("/") + "/api/" + path
    headers = {"Authorization": f"token {server['token']}"} if server.get("token") else {}
    answer = httpx.request(method, url, headers=headers, timeout=5, trust_env=False)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def _idle_sessions(mine: str) -> tuple[dict, list[dict]] | None:
    """This kernel's server, and its other sessions whose kernel is idle, least recently active first."""
    for server in _servers():
        try:
            sessions = _api(server, "GET", "sessions")
        except Exception:
            continue
        if not any(s.get("kernel", {}).get("id") == mine for s in sessions):
            continue  # not the server running this kernel
        others = [s for s in sessions if s["kernel"]["id"] != mine and s["kernel"].get("execution_state") == "idle"]
        return server, sorted(others, key=lambda s: s["kernel"].get("last_activity") or "")
    return None


def make_room(need: float = NEED) -> list[str]:
    """In a small box, stop idle kernels of this kernel's Jupyter server until a lesson fits."""
    mem = memory()
    if not small_box(mem):
        return []
    ceiling = CEILING * mem.limit
    if mem.used + need <= ceiling:
        return []
    mine = _my_kernel_id()
    found = _idle_sessions(mine) if mine else None
    if not found:
        return []
    server, idle = found
    stopped = []
    for session in idle:
        try:
            _api(server, "DELETE", f"sessions/{session['id']}")
        except Exception:
            continue
        stopped.append(session.get("path") or session.get("name") or session["kernel"]["id"])
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline and (current := memory()) and current.used + need > ceiling:
            time.sleep(0.5)  # the kernel's watchdog is stopping its components
        if (current := memory()) is None or current.used + need <= ceiling:
            break
    if not stopped:
        return []
    now = memory() or mem
    line = (f"labs: this box has {mem.limit / 2**30:.1f} GiB of memory, so the idle kernel"
            f"{'s' if len(stopped) > 1 else ''} of {', '.join(Path(p).name for p in stopped)} "
            f"{'were' if len(stopped) > 1 else 'was'} stopped (with {'their' if len(stopped) > 1 else 'its'} "
            f"components) to make room: {now.used / 2**30:.1f} GiB in use now. "
            f"{'The notebooks stay' if len(stopped) > 1 else 'The notebook stays'} open: "
            f"run {'their' if len(stopped) > 1 else 'its'} cells again to start a fresh kernel there.")
    print(line, flush=True)
    return [line]
