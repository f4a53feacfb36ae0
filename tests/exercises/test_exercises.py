"""Every exercise check fails on the learner's stub and passes on the solution, on live components."""
from pathlib import Path

import nbformat
import pytest

import labs
from labs import check
from labs.tools.notebooks import exercise_cells, solution_form, solution_sections

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _stubs() -> dict[str, tuple[Path, str]]:
    found = {}
    for path in NOTEBOOKS:
        for ex_id, source in exercise_cells(nbformat.read(path, as_version=4)).items():
            assert ex_id not in found, f"exercise {ex_id} appears twice"
            found[ex_id] = (path, source)
    return found


STUBS = _stubs()


def test_every_exercise_has_a_checker_a_stub_and_a_solution():
    registered = set(check.exercises())
    assert set(STUBS) == registered, f"stubs {sorted(STUBS)} vs checkers {sorted(registered)}"
    for ex_id, (path, _) in STUBS.items():
        assert ex_id in solution_sections(ROOT / "solutions" / f"{path.stem}.py")


def _answer(source: str, ex_id: str):
    namespace: dict = {}
    exec(compile(source, f"<exercise {ex_id}>", "exec"), namespace)
    return namespace[check.exercises()[ex_id].answer]


@pytest.mark.parametrize("ex_id", sorted(STUBS))
def test_check_fails_on_the_stub_and_passes_on_the_solution(ex_id):
    exercise = check.exercises()[ex_id]
    path, stub = STUBS[ex_id]
    lab = labs.start(*exercise.needs)
    passed, message = check.run_exercise(ex_id, _answer(stub, ex_id), lab)
    assert not passed, f"exercise {ex_id}'s check passes on the unsolved stub"
    assert message
    solution = solution_sections(ROOT / "solutions" / f"{path.stem}.py")[ex_id]
    passed, message = check.run_exercise(ex_id, _answer(solution, ex_id), lab)
    assert passed, f"exercise {ex_id}'s check fails on the solution: {message}"


def test_solution_form_replaces_exactly_the_exercise_cells():
    for path in NOTEBOOKS:
        learner = nbformat.read(path, as_version=4)
        solved = solution_form(path, ROOT / "solutions")
        assert len(learner.cells) == len(solved.cells)
        changed = [i for i, (a, b) in enumerate(zip(learner.cells, solved.cells)) if a.source != b.source]
        assert len(changed) == len(exercise_cells(learner))


def test_strict_mode_raises_and_learner_mode_does_not(monkeypatch, capsys):
    lab = labs.start("redis")
    stub = _answer(STUBS["00.1"][1], "00.1")
    monkeypatch.delenv("LABS_STRICT_EXERCISES", raising=False)
    check.exercise("00.1", stub, lab)
    assert "not yet" in capsys.readouterr().out
    monkeypatch.setenv("LABS_STRICT_EXERCISES", "1")
    with pytest.raises(check.ExerciseFailed):
        check.exercise("00.1", stub, lab)
