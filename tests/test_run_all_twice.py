"""A learner presses Run All, then Run All again in the same kernel: every lesson must pass both times."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_run_all_twice_in_one_kernel(lesson):
    nb = nbformat.read(lesson, as_version=4)
    nb.cells = nb.cells + [nbformat.from_dict(dict(c)) for c in nb.cells]
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
