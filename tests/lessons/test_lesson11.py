"""Lesson 11's duplicate check proves the idempotent consumer: with the naive one in its place it fails."""
from pathlib import Path

import nbformat
import pytest

from labs import check
from labs.lessons import at_least_once, eventlog
from labs.clients import kafka as lk

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "notebooks" / "11-kafka-the-log.ipynb"


def _claims_cell() -> str:
    """The notebook's own cell of at-least-once claims, so the test checks what learners run."""
    nb = nbformat.read(LESSON, as_version=4)
    return next(c.source for c in nb.cells
                if c.cell_type == "code" and c.source.startswith('naive, idempotent = crashes["naive"]'))


@pytest.mark.brokers
def test_the_duplicate_check_fails_when_the_idempotent_consumer_is_replaced_by_the_naive_one(brokers, tmp_path):
    topic = f"lesson11-{tmp_path.name[-12:].replace('_', '-')}"
    lk.create_topic(brokers, topic, partitions=3)
    office = eventlog.BoxOffice(brokers, topic)
    try:
        eventlog.sample_workload(office, orders=40)
    finally:
        office.close()
    crashes = at_least_once.crash_side_by_side(brokers, topic, group_prefix=topic, workdir=tmp_path)
    cell = _claims_cell()

    exec(cell, {"check": check, "crashes": crashes})  # as in the lesson: every claim holds

    naive_in_both = {"naive": crashes["naive"], "idempotent": crashes["naive"]}
    with pytest.raises(check.ClaimNotShown, match="no duplicate charges"):
        exec(cell, {"check": check, "crashes": naive_in_both})
    assert crashes["naive"].duplicate_charges >= 1
