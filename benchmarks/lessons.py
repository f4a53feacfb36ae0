"""`make bench`: each lesson's Run All, in seconds, as a learner gets it: a fresh kernel, every cell
once (its components started cold), then Run All again in the same kernel (components reused).

    .venv/bin/python benchmarks/lessons.py            # every lesson
    .venv/bin/python benchmarks/lessons.py 03 09      # some

A lesson is one sitting: the target is a first Run All of <= 45 s on 2 cores. The table also counts
each lesson's cells and claims (check.claim calls), the figures issue 13 asks for per lesson.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 45.0


def lessons(selected: list[str]) -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]*-*.ipynb"))
    if selected:
        found = [p for p in found if any(p.name.startswith(s) for s in selected)]
        if not found:
            sys.exit(f"no lesson matches {selected}; lessons are named like 03-sync-vs-async")
    return found


def counts(nb: nbformat.NotebookNode) -> tuple[int, int, int]:
    code = [c for c in nb.cells if c.cell_type == "code"]
    claims = sum(len(re.findall(r"\bcheck\.claim\(", c.source)) for c in code)
    return len(nb.cells), len(code), claims


def run_all_twice(path: Path) -> tuple[float, float]:
    """Seconds of the first and of the second Run All, in one kernel."""
    nb = nbformat.read(path, as_version=4)
    once = len(nb.cells)
    nb.cells = nb.cells + [nbformat.from_dict(dict(c)) for c in nb.cells]
    marks: list[float] = []
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    # nbclient calls this hook before each cell: the start of cell `once` ends the first Run All.
    client.on_cell_start = lambda cell, cell_index: marks.append(time.perf_counter()) \
        if cell_index == once else None
    client.execute()
    ended = time.perf_counter()
    first = (marks[0] if marks else ended) - started
    return first, ended - (marks[0] if marks else ended)


def main(selected: list[str]) -> None:
    rows = []
    for path in lessons(selected):
        cells, code, claims = counts(nbformat.read(path, as_version=4))
        print(f"running {path.stem} twice ...", flush=True)
        first, second = run_all_twice(path)
        rows.append((path.stem, cells, code, claims, first, second))
    print(f"\n{'lesson':<38} {'cells':>5} {'code':>5} {'claims':>6} {'Run All s':>10} {'again s':>8}")
    for stem, cells, code, claims, first, second in rows:
        flag = "" if first <= TARGET_S else f"  over {TARGET_S:.0f} s"
        print(f"{stem:<38} {cells:>5} {code:>5} {claims:>6} {first:>10.1f} {second:>8.1f}{flag}")
    print(f"{'all lessons':<38} {sum(r[1] for r in rows):>5} {sum(r[2] for r in rows):>5} "
          f"{sum(r[3] for r in rows):>6} {sum(r[4] for r in rows):>10.1f} {sum(r[5] for r in rows):>8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
