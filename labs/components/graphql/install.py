"""`python -m labs.components.graphql.install [--status]`: install the gateway's pinned npm packages
(make setup and Binder's postBuild run it), or say which Node runs the gateway and whether they are there.

Layer: components.
"""
from __future__ import annotations

import sys

from .node import find_node, gateway_packages, install, node_problem


def main(argv: list[str] | None = None) -> int:
    command = argv if argv is not None else sys.argv[1:]
    if command == []:
        return install()
    if command == ["--status"]:
        node = find_node()
        ok, found = gateway_packages()
        print(f"node: {node if node else node_problem()}")
        print(f"gateway packages: {'ok' if ok else 'MISSING'}: {found}")
        return 0 if node and ok else 1
    print("usage: python -m labs.components.graphql.install [--status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
