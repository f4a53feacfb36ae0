"""Run a lesson's own cells in a test: its claim cells (first line `# Claim: <name>`) and the demo
cells tagged in their metadata (`demo-<name>`, invisible to a learner). A test changes the world
(a fault removed, a mechanism switched off), runs exactly what the learner runs, and expects the
claim to fail."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from labs.tools.check import ClaimNotShown

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _cells(notebook: str) -> list:
    path = next(NOTEBOOKS.glob(f"{notebook}*.ipynb"))
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def claim_cell(notebook: str, name: str) -> str:
    found = [c.source for c in _cells(notebook) if c.source.startswith(f"# Claim: {name}\n")]
    assert len(found) == 1, f"expected one '# Claim: {name}' cell in lesson {notebook}"
    return found[0]


def demo_cells(notebook: str, name: str) -> list[str]:
    found = [c.source for c in _cells(notebook) if f"demo-{name}" in c.metadata.get("tags", [])]
    assert found, f"no cell tagged demo-{name} in lesson {notebook}"
    return found


def run(source: str, namespace: dict) -> dict:
    exec(compile(source, "<lesson cell>", "exec"), namespace)
    return namespace


def run_demo(notebook: str, name: str, namespace: dict, edit=lambda source: source) -> dict:
    """The demo's cells in order, each passed through `edit` (how a test changes the world)."""
    for source in demo_cells(notebook, name):
        run(edit(source), namespace)
    return namespace


def assert_claim_fails(notebook: str, name: str, namespace: dict, statement: str = "") -> str:
    """The claim cell raises ClaimNotShown (about `statement`, when given) on these measurements."""
    with pytest.raises(ClaimNotShown) as failure:
        run(claim_cell(notebook, name), namespace)
    assert statement in str(failure.value), str(failure.value)
    return str(failure.value)


def assert_claim_holds(notebook: str, name: str, namespace: dict) -> None:
    run(claim_cell(notebook, name), namespace)
