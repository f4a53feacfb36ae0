"""Lesson 11's duplicate check proves the idempotent consumer: the lesson's own charging functions (from
its cells, run in the consumer processes) pass it, and a consumer that remembers event ids only in
its own memory, which a crash wipes, fails it."""
import pytest
from lesson_cells import code_cell, run_cells

from labs import check
from labs.clients import kafka as lk
from labs.lessons import at_least_once, eventlog

HANDLERS = "def charge_once(db"
CLAIMS = 'naive, idempotent = crashes["naive"]'


def charge_remembering_in_memory(db, event, seen=set()):  # noqa: B006 (the point: this process only)
    """Dedupe by event id, but in a Python set: the consumer that takes over after a crash starts empty."""
    if event.event_id not in seen:
        seen.add(event.event_id)
        with db:
            db.execute("INSERT INTO charges VALUES (?, ?, ?)", (event.event_id, event.user_id, event.amount))


@pytest.fixture(scope="module")
def topic(brokers, tmp_path_factory):
    name = f"lesson11-{tmp_path_factory.mktemp('t').name[-8:].replace('_', '-')}"
    lk.create_topic(brokers, name, partitions=3)
    office = eventlog.BoxOffice(brokers, name)
    try:
        eventlog.sample_workload(office, orders=40)
    finally:
        office.close()
    return name


@pytest.mark.brokers
def test_the_lessons_charging_functions_pass_and_an_in_memory_dedupe_fails(brokers, topic, tmp_path):
    lesson = run_cells("11-kafka", [HANDLERS])  # charge_naively and charge_once, as the lesson writes them
    crashes = at_least_once.crash_side_by_side(
        brokers, topic, group_prefix=f"{topic}-lesson", workdir=tmp_path / "lesson",
        handlers={"naive": lesson["charge_naively"], "idempotent": lesson["charge_once"]})
    exec(code_cell("11-kafka", CLAIMS), {"check": check, "crashes": crashes})  # every claim holds

    # The world changed: the ids are remembered in memory, which the SIGKILL takes with it.
    forgetful = at_least_once.crash_side_by_side(
        brokers, topic, group_prefix=f"{topic}-memory", workdir=tmp_path / "memory",
        handlers={"naive": lesson["charge_naively"], "idempotent": charge_remembering_in_memory})
    assert forgetful["idempotent"].duplicate_charges >= 1
    with pytest.raises(check.ClaimNotShown, match="no duplicate charges"):
        exec(code_cell("11-kafka", CLAIMS), {"check": check, "crashes": forgetful})
