"""Shared by the labs.tracing tests: a fresh span directory per test, and a reader for it."""
import json
from pathlib import Path

import pytest

from labs import tracing


@pytest.fixture
def span_dir(tmp_path):
    """This process writes its spans to a fresh directory for the test (restored afterwards)."""
    before = tracing.component()
    tracing.set_trace_dir(tmp_path)
    yield tmp_path
    tracing.set_trace_dir(None)
    tracing.set_component(before)


def _read_spans(directory: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl"))
            for line in path.read_text().splitlines()]


@pytest.fixture
def read_spans():
    """`read_spans(directory)`: every span in the directory's files, file by file, line by line."""
    return _read_spans
