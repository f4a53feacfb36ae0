"""The federation gateway's Node and npm packages: Node is the runtime's choice (labs.runtime.node), the
packages are pinned in gateway/package.json + package-lock.json and installed by `make setup`.

    from labs.components.graphql.node import GATEWAY_DIR, gateway_packages
    gateway_packages()        # (installed?, what was found) in gateway/node_modules

Layer: components.
"""
from __future__ import annotations

from pathlib import Path

from ...runtime.node import NpmFolder

GATEWAY_DIR = Path(__file__).resolve().parent / "gateway"


def gateway_packages() -> tuple[bool, str]:
    """Are the gateway's locked packages installed in gateway/node_modules? (ok, what was found)"""
    return NpmFolder(GATEWAY_DIR).installed()
