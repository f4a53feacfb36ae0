"""The two forms of every lesson: the learner's (exercise stubs) and the solution form.

A notebook's exercise cell starts with a line `# Exercise NN.K`; `solutions/<notebook>.py`
holds the solution of each, in sections that start with the same line (`# %% Exercise NN.K`).
The solution form is built from the two, so each exercise and its solution have one source.

Layer: tools.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat

MARKER = re.compile(r"^#\s*(?:%%\s*)?Exercise\s+(\d\d\.\d+)\b", re.MULTILINE)


def exercise_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{exercise id: the stub cell's source} for a notebook."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        m = MARKER.match(cell.source)
        if m:
            found[m.group(1)] = cell.source
    return found


def solution_sections(path: Path) -> dict[str, str]:
    """{exercise id: solution source} from a solutions/*.py file."""
    text = path.read_text()
    starts = [(m.start(), m.group(1)) for m in MARKER.finditer(text)]
    sections = {}
    for i, (start, ex_id) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = text[start:end].rstrip() + "\n"
        sections[ex_id] = body.replace("# %% Exercise", "# Exercise", 1)
    return sections


def solution_form(notebook: Path, solutions_dir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    sol_file = solutions_dir / (notebook.stem + ".py")
    stubs = exercise_cells(nb)
    if not stubs:
        return nb
    if not sol_file.exists():
        raise FileNotFoundError(f"{notebook.name} has exercises {sorted(stubs)} but no {sol_file}")
    solutions = solution_sections(sol_file)
    missing = sorted(set(stubs) - set(solutions))
    if missing:
        raise KeyError(f"{sol_file} has no solution for exercise(s) {missing}")
    for cell in nb.cells:
        m = MARKER.match(cell.source) if cell.cell_type == "code" else None
        if m:
            cell.source = solutions[m.group(1)].rstrip("\n")
    return nb


def _relink(nb: nbformat.NotebookNode, notebooks_dir: Path, out_dir: Path) -> None:
    """Markdown links that leave the notebooks folder ("](../docs/x.md)") made to work from `out_dir`."""
    def moved(match: re.Match) -> str:
        target = os.path.relpath((notebooks_dir / match.group(1)).resolve(), out_dir.resolve())
        return f"]({target}"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\((\.\./[^)\s]*)", moved, cell.source)


def build_solution_forms(notebooks_dir: Path, solutions_dir: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for notebook in sorted(notebooks_dir.glob("[0-9][0-9]*-*.ipynb")):
        target = out_dir / notebook.name
        nb = solution_form(notebook, solutions_dir)
        _relink(nb, notebooks_dir, out_dir)
        nbformat.write(nb, target)
        written.append(target)
    return written


if __name__ == "__main__":  # python -m labs.tools.notebooks NOTEBOOKS SOLUTIONS OUT
    for path in build_solution_forms(*(Path(a) for a in sys.argv[1:4])):
        print(path)
