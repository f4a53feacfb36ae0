"""`python -m labs preflight`: can every lesson run on this machine? One command before the workshop.

    report = preflight()      # the doctor, every registered component started once, a round trip each
    print(report)             # one line per component, then the verdict and a line to paste in the chat
    report.ok                 # True only when every lesson can run

The components it starts keep running in this process (the command line stops them as it exits).

Layer: tools. Generic over the component registry: a component another lesson registers joins the
check by being registered (its prerequisites, its start, and its own readiness probe as the round
trip when labs.tools.smoke has no better one). Which lessons need which component is read from the
notebooks' `labs.start(...)` calls, so a failure names the lessons it blocks.
"""
from __future__ import annotations

import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime import component_names, get_spec, start
from ..runtime.doctor import doctor
from ..runtime.errors import LabError, StartError
from ..runtime.progress import bar
from . import smoke

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_START = re.compile(r"labs\.start\(([^)]*)\)")
_NAME = re.compile(r"""["']([a-z][a-z0-9_-]*)["']""")


@dataclass
class Row:
    component: str
    ok: bool
    ready_s: float | None = None
    roundtrip_s: float | None = None
    problem: str = ""
    fix: str = ""
    lessons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            return f"  ok    {self.component:<14} ready {self.ready_s:.1f} s, round trip {self.roundtrip_s * 1000:.0f} ms"
        needed = f" (needed by lessons {', '.join(self.lessons)})" if self.lessons else ""
        return f"  FAIL  {self.component:<14} {self.problem}{needed}\n        fix: {self.fix}"


@dataclass
class Report:
    rows: list[Row]
    doctor_problems: list[tuple[str, str]]  # (what, fix) of required items missing, not tied to a component
    seconds: float

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.doctor_problems

    def verdict(self) -> str:
        if self.ok:
            slowest = max(self.rows, key=lambda r: r.ready_s or 0)
            return (f"preflight OK in {self.seconds:.0f} s: {len(self.rows)} components started and answered "
                    f"(slowest: {slowest.component} {slowest.ready_s:.1f} s); every lesson can run")
        parts = [f"{r.component}: {r.problem.split(';')[0]} -> fix: {r.fix}" for r in self.failed]
        parts += [f"{what} -> fix: {fix}" for what, fix in self.doctor_problems]
        return f"preflight FAILED in {self.seconds:.0f} s: " + " | ".join(parts)

    def chat_line(self) -> str:
        """One short line a learner pastes into the workshop chat."""
        where = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        if self.ok:
            return f"labs preflight: OK {len(self.rows)}/{len(self.rows)} in {self.seconds:.0f} s ({where})"
        names = ", ".join([r.component for r in self.failed] + [w for w, _ in self.doctor_problems])
        return f"labs preflight: FAILED ({names}) {len(self.rows) - len(self.failed)}/{len(self.rows)} ok ({where})"

    def __str__(self) -> str:
        lines = [str(r) for r in self.rows]
        lines += [f"  FAIL  {what}\n        fix: {fix}" for what, fix in self.doctor_problems]
        return "\n".join(lines + ["", self.verdict(), "", "paste into the workshop chat:", self.chat_line()])

    __repr__ = __str__


def lessons_needing(notebooks: Path = NOTEBOOKS) -> dict[str, list[str]]:
    """component -> the lessons ("09", ...) whose notebook starts it (directly or as a requirement)."""
    needs: dict[str, set[str]] = {}
    every = component_names()
    for nb in sorted(notebooks.glob("[0-9][0-9]-*.ipynb")):
        text = nb.read_text(errors="replace")
        for call in _START.findall(text.replace('\\"', '"')):
            # no component named (labs.start() or labs.start(wait=False)): every component
            names = [n for n in _NAME.findall(call) if n in every] or every
            for name in _with_requirements(names):
                needs.setdefault(name, set()).add(nb.name[:2])
    return {name: sorted(lessons) for name, lessons in needs.items()}


def _with_requirements(names: list[str]) -> list[str]:
    found: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.append(name)
            todo += list(get_spec(name).requires)
    return found


def preflight(names: list[str] | None = None, progress: bool = True) -> Report:
    """Check `names` (default: every registered component) and what they require."""
    started = time.monotonic()
    names = _with_requirements(list(names)) if names else component_names()
    names = [n for n in component_names() if n in names]  # registry order
    needs = lessons_needing()
    rows: dict[str, Row] = {}
    for name in names:  # prerequisites first: no point starting what cannot start
        missing = [p for p in get_spec(name).prerequisites() if p.required and not p.found]
        if missing:
            rows[name] = Row(name, False, problem=f"{missing[0].what} is missing", fix=missing[0].fix,
                             lessons=needs.get(name, []))
    blocked = {n for n in names if any(dep in rows for dep in _with_requirements([n]) if dep != n)}
    for name in sorted(blocked - set(rows)):
        dep = next(d for d in _with_requirements([name]) if d in rows and d != name)
        rows[name] = Row(name, False, problem=f"it requires {dep}, which cannot start", fix=rows[dep].fix,
                         lessons=needs.get(name, []))
    report_doctor = doctor()
    tied = {f.what for f in report_doctor.findings if "(for " in f.what}
    doctor_problems = [(f.what, f.fix) for f in report_doctor.missing if f.what not in tied]
    startable = [n for n in names if n not in rows]
    try:
        lab = start(*startable, wait=False, progress=False) if startable else None
    except LabError as exc:  # e.g. LABS_CLASS names no seat file: nothing can start
        fix = next((fix for _, fix in doctor_problems), f"{sys.executable} -m labs doctor")
        for name in startable:
            rows[name] = Row(name, False, problem=str(exc).split(";")[0], fix=fix, lessons=needs.get(name, []))
        startable, lab = [], None
    with bar(total=len(startable), desc="preflight: starting every component", unit="component",
             show=progress) as shown:
        for name in startable:
            rows[name] = _check(lab, name, needs.get(name, []))
            shown.update(1)
    ordered = [rows[n] for n in names]
    return Report(ordered, doctor_problems, time.monotonic() - started)


def _check(lab, name: str, lessons: list[str]) -> Row:
    try:
        comp = lab._wait_for(name)
    except StartError as exc:
        return Row(name, False, problem=f"did not start: {exc.reason}", lessons=lessons,
                   fix=f"read its log (lab.logs({name!r}) or {sys.executable} -m labs up {name}); "
                       f"then {sys.executable} -m labs doctor")
    except (LabError, TimeoutError) as exc:
        return Row(name, False, problem=f"did not start: {exc}", fix=f"{sys.executable} -m labs doctor",
                   lessons=lessons)
    try:
        seconds = smoke.roundtrip(lab, name)
    except Exception as exc:
        return Row(name, False, ready_s=comp.ready_seconds, lessons=lessons,
                   problem=f"started but did not answer: {type(exc).__name__}: {str(exc)[:160]}",
                   fix=f"{sys.executable} -m labs up {name}  (and read its log)")
    return Row(name, True, ready_s=comp.ready_seconds, roundtrip_s=seconds, lessons=lessons)
