"""The code cells of a lesson, found by a line they contain, so a test runs what learners run.

    from lesson_cells import run_cells
    scope = run_cells("04-rest", ["received_before = rest.requests_received(api)"], lab=lab, api=api)
    scope["received"]                       # whatever the cell left behind

A test changes the world (a cache in front, a server that drops a header, a broker killed), runs the
lesson's own cells in it, and expects the lesson's claim to fail.
"""
from __future__ import annotations

import linecache
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def code_cell(lesson: str, containing: str) -> str:
    """The source of the one code cell of notebooks/<lesson>*.ipynb that contains `containing`."""
    path = next((ROOT / "notebooks").glob(f"{lesson}*.ipynb"))
    found = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and containing in c.source]
    if len(found) != 1:
        raise LookupError(f"{len(found)} code cells of {path.name} contain {containing!r}; expected one")
    return found[0]


def run_cells(lesson: str, containing: list[str], **scope: Any) -> dict[str, Any]:
    """Run the cells (each found by `code_cell`) one after the other in one namespace."""
    for marker in containing:
        source, name = code_cell(lesson, marker), f"<{lesson}: {marker}>"
        # As IPython does for a cell: inspect.getsource can then read a function the cell defines.
        linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
        exec(compile(source, name, "exec"), scope)
    return scope
