"""A temp folder of the kernel's own, removed with its components when the kernel goes.

Layer: runtime. One idea: once `labs.start` has run in a process, `tempfile.mkdtemp()`,
`TemporaryDirectory()` and friends there create their files under one folder of that process
(in the lab's state dir), which the watchdog removes when the process ends, even by SIGKILL.
Lessons that write scratch files (protoc's output, an sqlite file) then leave nothing behind,
without each notebook cleaning up after itself.

    from labs.runtime import scratch
    scratch.adopt(reaper)        # what labs.start does; a no-op once done, or when the
                                 # process chose its own tempfile.tempdir / LABS_KEEP_TEMP=1
    scratch.folder()             # the folder, or None

Child processes keep the system temp dir (TMPDIR is left alone): only this Python process's
`tempfile` defaults move.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import paths
from .paths import state_root
from .reaper import Reaper

_folder: Path | None = None


def adopt(reaper: Reaper) -> Path | None:
    global _folder
    chosen = tempfile.tempdir not in (None, paths.system_temp())  # the process picked a temp dir itself
    if _folder is not None or chosen or os.environ.get("LABS_KEEP_TEMP") == "1":
        return _folder
    _folder = Path(tempfile.mkdtemp(prefix=f"tmp-{os.getpid()}-", dir=state_root()))
    reaper.remove_dir_later(str(_folder))
    tempfile.tempdir = str(_folder)
    return _folder


def folder() -> Path | None:
    return _folder
