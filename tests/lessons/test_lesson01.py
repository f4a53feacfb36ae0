"""Lesson 01's checks prove a network path: with the services swapped for in-process calls they fail."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "notebooks" / "01-method-call-to-network-call.ipynb"

IN_PROCESS_INSTEAD_OF_NETWORK = '''
import labs.clients.ticketing as ticketing

class InProcess(ticketing.Monolith):
    """Same methods as RestTicketing / GrpcTicketing, but plain method calls."""
    def __init__(self, lab):
        super().__init__()

ticketing.RestTicketing = ticketing.GrpcTicketing = InProcess
'''


def test_the_latency_claims_fail_when_the_network_is_replaced_by_method_calls():
    nb = nbformat.read(LESSON, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(IN_PROCESS_INSTEAD_OF_NETWORK))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with pytest.raises(CellExecutionError) as failure:
        client.execute()
    text = str(failure.value)
    assert "ClaimNotShown" in text
    assert "at least 100x the same order as method calls" in text


# ---- exercise 01.1: a prediction must be computed from the hop, not taken from the order -------

import labs  # noqa: E402
from labs import bench, check  # noqa: E402
from labs.clients.ticketing import RestTicketing  # noqa: E402


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", progress=False)


def test_the_exercise_refuses_a_prediction_that_is_the_measured_order(lab):
    with RestTicketing(lab) as rest:
        measured = bench.measure(lambda: rest.place_order("u1", "c1"), n=60, progress=False).median_ms
    passed, message = check.run_exercise("01.1", lambda hop_ms: measured, lab)
    assert not passed and "twice as slow" in message


def test_the_exercise_refuses_a_prediction_far_from_the_chain(lab):
    passed, message = check.run_exercise("01.1", lambda hop_ms: hop_ms, lab)  # one hop, not six
    assert not passed and "x your prediction" in message


def test_the_exercise_takes_a_prediction_from_the_hop(lab):
    passed, message = check.run_exercise("01.1", lambda hop_ms: 6 * hop_ms, lab)
    assert passed, message
