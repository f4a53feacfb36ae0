"""Progress bars, switched off one way: `LABS_PROGRESS=0` (tests, CI, terminals that prefer quiet).

Layer: runtime.

    from labs.runtime.progress import bar
    with bar(total=500, desc="publishing", unit="msg") as b:
        for ... : b.update(1)
    with bar(desc="restarting rabbitmq") as b:      # no total: a timer that says how long it has run
        ...

`bar()` is `tqdm.auto.tqdm` with `disable=` set from the one setting (`enabled()`), and `leave=False`
so a finished bar makes room for the result it was waiting for. A bar that is closed with its total
reached disappears; one left short shows red in JupyterLab, which is why callers that count in
batches must `finish()` it before closing (a measurement that made all its calls is not a failure).
"""
from __future__ import annotations

import os
from typing import Any


def enabled(asked: bool = True) -> bool:
    """Whether to draw a bar: the caller asked for one and LABS_PROGRESS is not "0"."""
    return bool(asked) and os.environ.get("LABS_PROGRESS", "1") != "0"


def bar(total: float | None = None, desc: str = "", unit: str = "it", *, show: bool = True, **options: Any):
    """A tqdm.auto bar (a widget in JupyterLab, text in a terminal), disabled when `enabled(show)` is false."""
    from tqdm.auto import tqdm

    options.setdefault("leave", False)
    if total is None and options.get("iterable") is None:  # nothing to count: show the time it runs
        options.setdefault("bar_format", "{desc}: {elapsed}")
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(show), **options)


def finish(progress: Any) -> None:
    """Move a bar to its total (for callers that update it in batches), so closing it reads as done."""
    total = getattr(progress, "total", None)
    if total and not getattr(progress, "disable", False) and progress.n < total:
        progress.update(total - progress.n)
