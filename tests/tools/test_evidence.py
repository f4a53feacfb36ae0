"""The learner's evidence store: what check.claim keeps, which lesson it belongs to, bad files survived."""
import json
import multiprocessing
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import labs
from labs import check
from labs.tools import evidence

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A scratch evidence file, no lesson named, no Jupyter session in the environment."""
    where = tmp_path / "evidence.jsonl"
    monkeypatch.setenv(evidence.ENV_FILE, str(where))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(evidence, "_explicit", [])
    return where


def test_a_passed_claim_is_kept_with_its_lesson_figure_unit_and_time(store):
    check.lesson("9")
    check.claim("0 of 500 lost across the restart", 0, equals=0, unit="messages")
    check.claim("the broker answered", 0.25, at_most=5, unit="s")
    found = labs.evidence()
    assert [(e.lesson, e.claim, e.measured, e.unit) for e in found] == [
        ("09", "0 of 500 lost across the restart", 0, "messages"), ("09", "the broker answered", 0.25, "s")]
    assert found[1].figure() == "0.25 s" and found[0].when.endswith("+00:00")
    assert len(store.read_text().splitlines()) == 2


def test_a_claim_that_fails_is_not_evidence(store):
    check.lesson("09")
    with pytest.raises(check.ClaimNotShown):
        check.claim("nothing lost", 3, equals=0)
    assert labs.evidence() == []


def test_without_a_lesson_nothing_is_recorded(store):
    check.claim("a claim in a script or a test", 1, equals=1)
    assert not store.exists()


def test_the_lesson_comes_from_the_jupyter_session_path(store, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/course/notebooks/11-kafka-the-log.ipynb")
    assert evidence.current_lesson() == "11"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/Untitled.ipynb")
    assert evidence.current_lesson() is None
    check.lesson(4)  # the explicit fallback wins over the session
    assert evidence.current_lesson() == "04"


def test_in_a_real_kernel_started_for_a_notebook_claims_carry_that_notebooks_lesson(store):
    """What jupyter_server does for every notebook: start its kernel with JPY_SESSION_NAME set."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from labs import check\ncheck.claim('seen in a kernel', 42, equals=42, unit='calls')\n"
        "print(__session__)")])
    env = {**__import__("os").environ, "JPY_SESSION_NAME": str(ROOT / "notebooks" / "04-rest.ipynb")}
    NotebookClient(nb, timeout=60, kernel_name="python3").execute(env=env)
    assert nb.cells[0].outputs[-1]["text"].strip().endswith("04-rest.ipynb")  # ipykernel's __session__
    assert [(e.lesson, e.claim, e.measured) for e in labs.evidence()] == [("04", "seen in a kernel", 42)]


def test_bad_lesson_names_are_refused_with_the_form(store):
    for bad in ("nine", "123", -1, 100, None, 9.0, True):
        with pytest.raises(ValueError, match='two-digit number, from "00" to "99"'):
            check.lesson(bad)


def test_corrupt_and_partial_lines_are_skipped_with_one_warning(store):
    good = {"lesson": "10", "claim": "every subscriber got all 30", "measured": [30, 30, 30], "unit": "",
            "when": "2026-12-01T10:00:00+00:00"}
    store.write_bytes(b"\n".join([
        json.dumps(good).encode(),
        b"{not json",
        b"\xff\xfe binary junk",
        json.dumps([1, 2]).encode(),                                   # JSON, not a record
        json.dumps({**good, "lesson": "ten"}).encode(),
        json.dumps({**good, "when": "yesterday"}).encode(),
        json.dumps({k: v for k, v in good.items() if k != "measured"}).encode(),
        json.dumps({**good, "claim": "the last one"}).encode(),
        b'{"lesson": "10", "claim": "cut off mid-wri',                 # no newline: a write in progress
    ]))
    with pytest.warns(evidence.EvidenceWarning, match=r"skipped 7 unreadable lines .*line 2: .*and 4 more"):
        found = labs.evidence()
    problems = evidence.parse(store.read_text(errors="replace").splitlines(keepends=True))[1]
    assert problems[-1] == "line 9: cut off mid-write" and len(problems) == 7
    assert [e.claim for e in found] == ["every subscriber got all 30", "the last one"]
    assert found[0].figure() == "(30, 30, 30)"


def test_an_unreadable_file_is_no_evidence_not_a_crash(store):
    store.mkdir()  # a directory where the file should be
    with pytest.warns(evidence.EvidenceWarning, match="could not read"):
        assert labs.evidence() == []
    check.lesson("09")
    with pytest.warns(evidence.EvidenceWarning, match="could not keep"):
        check.claim("the claim still passes", 1, equals=1)  # and does not raise


def test_latest_keeps_the_last_run_of_each_claim(store):
    for seconds in (0.4, 0.3):
        evidence.record("restart took", seconds, "s", lesson="09")
    evidence.record("nothing lost", 0, "", lesson="09")
    evidence.record("every subscriber", 3, "", lesson="10")
    latest = labs.evidence().latest()
    assert [(e.claim, e.measured) for e in latest] == [("restart took", 0.3), ("nothing lost", 0),
                                                       ("every subscriber", 3)]
    assert labs.evidence("9").lessons() == ["09"] and len(labs.evidence("10")) == 1
    assert list(latest.table().columns) == ["lesson", "claim", "measured", "unit", "when"]


def test_measured_values_are_kept_as_plain_json(store):
    import numpy as np
    evidence.record("a numpy figure", np.float64(0.5), lesson="05")
    evidence.record("a tuple", (90, 0), lesson="09")
    evidence.record("not a number", float("nan"), lesson="09")
    evidence.record("an object", object(), lesson="09")
    measured = [e.measured for e in labs.evidence()]
    assert measured[:3] == [0.5, [90, 0], "nan"] and measured[3].startswith("<object object")


def test_off_records_nothing(store, monkeypatch):
    monkeypatch.setenv(evidence.ENV_FILE, "off")
    assert evidence.record("x", 1, lesson="09") is None and labs.evidence() == [] and evidence.clear() == 0


def test_the_default_place_is_the_users_data_dir_honouring_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(evidence.ENV_FILE, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert evidence.path() == tmp_path / "data" / "msa-labs" / "evidence.jsonl"
    assert ROOT not in evidence.path().parents  # never inside the repository


def _append_many(where: str, worker: int) -> None:
    import os
    os.environ[evidence.ENV_FILE] = where
    for n in range(200):
        evidence.record(f"worker {worker} claim {n} " + "x" * 100, n, "calls", lesson="09")


def test_several_kernels_appending_at_once_leave_whole_lines(store):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.starmap(_append_many, [(str(store), w) for w in range(4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one unreadable line
        assert len(labs.evidence()) == 800


def test_the_reset_command_clears_the_store(store):
    evidence.record("x", 1, lesson="09")
    env = {**__import__("os").environ}
    shown = subprocess.run([sys.executable, "-m", "labs", "evidence", "--lesson", "09"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "09  x  [1]" in shown
    cleared = subprocess.run([sys.executable, "-m", "labs", "evidence", "--clear"], env=env,
                             capture_output=True, text=True, check=True).stdout
    assert "removed 1 recorded line" in cleared and not store.exists()
    bad = subprocess.run([sys.executable, "-m", "labs", "evidence", "--lesson", "nine"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and 'two-digit number, from "00" to "99"' in bad.stderr
