"""labs.tools.notebooks: `make solved` writes every lesson in solution form, and its links still work."""
import re
from pathlib import Path

import nbformat

from labs.tools.notebooks import build_solution_forms

ROOT = Path(__file__).resolve().parents[2]


def test_solved_notebooks_keep_their_links_to_the_docs(tmp_path):
    out = tmp_path / "build" / "solved"
    written = build_solution_forms(ROOT / "notebooks", ROOT / "solutions", out)
    assert len(written) == len(list((ROOT / "notebooks").glob("[0-9][0-9]*-*.ipynb")))
    links = [link for path in written for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "markdown" for link in re.findall(r"\]\((\.\./[^)\s#]*)", cell.source)]
    assert links, "lesson 11 links to docs/: the test needs one such link"
    missing = [link for link in links if not (out / link).resolve().exists()]
    assert not missing, f"links that lead nowhere from {out}: {missing}"
