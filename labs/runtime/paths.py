"""Where the runtime keeps per-user state: data dirs, state files, port reservations, traces.

Layer: runtime.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def state_root() -> Path:
    root = Path(os.environ.get("LABS_STATE_DIR") or Path(tempfile.gettempdir()) / f"msa-labs-{os.getuid()}")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root
