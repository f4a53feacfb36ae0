"""Where the runtime keeps per-user state: data dirs, state files, port reservations, traces.

Layer: runtime.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# The system's temp dir, read once at import: labs.start later points this process's tempfile
# default at a folder of its own (runtime.scratch), and the state dir must stay the one every
# process of this user shares.
_SYSTEM_TEMP = tempfile.gettempdir()


def system_temp() -> str:
    return _SYSTEM_TEMP


def state_root() -> Path:
    root = Path(os.environ.get("LABS_STATE_DIR") or Path(_SYSTEM_TEMP) / f"msa-labs-{os.getuid()}")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root
