"""The exact command that installs a missing OS package on the learner's kind of machine.

Layer: runtime.
"""
from __future__ import annotations

import os
import platform
import shutil

_BREW = {"rabbitmq-server": "rabbitmq", "redis-server": "redis", "nodejs": "node", "etcd-server": "etcd"}


def install_hint(package: str) -> str:
    if platform.system() == "Darwin":
        return f"brew install {_BREW.get(package, package)}"
    if shutil.which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        return f"{sudo}apt-get install -y {package}"
    if shutil.which("dnf"):
        return f"sudo dnf install -y {package}"
    return f"install the '{package}' package with your system's package manager"
