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
