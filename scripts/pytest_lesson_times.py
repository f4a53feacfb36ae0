"""A pytest plugin for make test-docker: seconds per notebook (every phase of its cells, kernel start
included), printed at the end, so several lessons can share one pytest run.

    PYTHONPATH=scripts pytest -p pytest_lesson_times --nbval-lax notebooks/00-*.ipynb notebooks/02-*.ipynb
"""
from __future__ import annotations

import collections
from pathlib import Path

_seconds: dict[str, float] = collections.defaultdict(float)
_failed: set[str] = set()


def pytest_runtest_logreport(report) -> None:
    name = Path(str(report.fspath)).stem
    _seconds[name] += report.duration
    if report.failed:
        _failed.add(name)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _seconds:
        return
    terminalreporter.section("seconds per notebook")
    for name, seconds in sorted(_seconds.items()):
        terminalreporter.write_line(f"  {name}: {seconds:.0f} s{'  FAILED' if name in _failed else ''}")
