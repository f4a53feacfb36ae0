"""labs.runtime.progress: bars switched off one way, and finished bars that read as finished."""
from labs.runtime import progress


def test_labs_progress_0_disables_every_bar(monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "0")
    assert not progress.enabled()
    with progress.bar(total=10, desc="x") as b:
        assert b.disable


def test_a_caller_can_ask_for_no_bar(monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "1")
    assert progress.enabled() and not progress.enabled(False)
    with progress.bar(total=10, desc="x", show=False) as b:
        assert b.disable


def test_finish_moves_a_batched_bar_to_its_total(monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "1")
    with progress.bar(total=640, desc="calls", file=open("/dev/null", "w")) as b:
        b.update(16 * 39)          # counted in batches of 16: 624 of 640
        progress.finish(b)
        assert b.n == b.total == 640


def test_a_bar_without_a_total_shows_how_long_it_has_run(monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "1")
    with progress.bar(desc="restarting", file=open("/dev/null", "w")) as b:
        assert b.bar_format == "{desc}: {elapsed}"
    with progress.bar(iterable=range(3), desc="publishing", file=open("/dev/null", "w")) as b:
        assert b.total == 3 and b.bar_format is None
