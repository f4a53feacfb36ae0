"""Run a lesson's own cells in a test, so a test changes the world and runs exactly what learners run.

    from lesson_cells import run_cells, run_demo, assert_claim_fails
    scope = run_cells("04-rest", ["received_before = rest.requests_received(api)"], lab=lab, api=api)
    run_demo("03", "quadrants", scope, edit=lambda source: source.replace(...))   # cells tagged demo-quadrants
    assert_claim_fails("03", "quadrants", scope, "synchronous")                    # the `# Claim: quadrants` cell

Cells are found three ways: by a line they contain (`code_cell`), by their first line
`# Claim: <name>` (`claim_cell`), or by a `demo-<name>` tag in their metadata (`demo_cells`, invisible to
a learner). A test changes the world (a fault removed, a cache in front, a mechanism switched off), runs
the lesson's cells in it, and expects the lesson's claim to fail.
"""
from __future__ import annotations

import linecache
from pathlib import Path
from typing import Any

import nbformat
import pytest

from labs.tools.check import ClaimNotShown

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _cells(notebook: str) -> list:
    path = next(NOTEBOOKS.glob(f"{notebook}*.ipynb"))
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def code_cell(lesson: str, containing: str) -> str:
    """The source of the one code cell of notebooks/<lesson>*.ipynb that contains `containing`."""
    found = [c.source for c in _cells(lesson) if containing in c.source]
    if len(found) != 1:
        raise LookupError(f"{len(found)} code cells of lesson {lesson} contain {containing!r}; expected one")
    return found[0]


def claim_cell(notebook: str, name: str) -> str:
    found = [c.source for c in _cells(notebook) if c.source.startswith(f"# Claim: {name}\n")]
    assert len(found) == 1, f"expected one '# Claim: {name}' cell in lesson {notebook}"
    return found[0]


def demo_cells(notebook: str, name: str) -> list[str]:
    found = [c.source for c in _cells(notebook) if f"demo-{name}" in c.metadata.get("tags", [])]
    assert found, f"no cell tagged demo-{name} in lesson {notebook}"
    return found


def run(source: str, namespace: dict, name: str = "<lesson cell>") -> dict:
    # As IPython does for a cell: inspect.getsource can then read a function the cell defines.
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    exec(compile(source, name, "exec"), namespace)
    return namespace


def run_cells(lesson: str, containing: list[str], **scope: Any) -> dict[str, Any]:
    """Run the cells (each found by `code_cell`) one after the other in one namespace."""
    for marker in containing:
        run(code_cell(lesson, marker), scope, f"<{lesson}: {marker}>")
    return scope


def run_demo(notebook: str, name: str, namespace: dict, edit=lambda source: source) -> dict:
    """The demo's cells in order, each passed through `edit` (how a test changes the world)."""
    for source in demo_cells(notebook, name):
        run(edit(source), namespace, f"<{notebook}: demo-{name}>")
    return namespace


def assert_claim_fails(notebook: str, name: str, namespace: dict, statement: str = "") -> str:
    """The claim cell raises ClaimNotShown (about `statement`, when given) on these measurements."""
    with pytest.raises(ClaimNotShown) as failure:
        run(claim_cell(notebook, name), namespace)
    assert statement in str(failure.value), str(failure.value)
    return str(failure.value)


def assert_claim_holds(notebook: str, name: str, namespace: dict) -> None:
    run(claim_cell(notebook, name), namespace)
