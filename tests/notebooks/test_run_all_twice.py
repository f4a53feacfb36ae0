"""A learner presses Run All, then Run All again in the same kernel: every lesson must pass both times.

This runs each lesson in solution form (exercises solved, LABS_STRICT_EXERCISES=1, so every check
must pass), twice in one kernel. Together with `make test-notebooks`, which runs each lesson once as
the learner gets it, every notebook is covered in both forms without running it four times.
"""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labs.tools.notebooks import solution_form

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*-*.ipynb"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_run_all_twice_in_one_kernel_in_solution_form(lesson, monkeypatch):
    monkeypatch.setenv("LABS_STRICT_EXERCISES", "1")  # the kernel inherits it
    nb = solution_form(lesson, ROOT / "solutions")
    nb.cells = nb.cells + [nbformat.from_dict(dict(c)) for c in nb.cells]
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
