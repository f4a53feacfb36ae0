"""Print the pip requirements of the lab's services image: pyproject.toml's dependencies minus the
packages only a notebook kernel needs (JupyterLab, plotting, dataframes).

    python3 docker/service_requirements.py pyproject.toml   # used by docker/Dockerfile

Standard library only: it runs in the image before anything is installed.
"""
from __future__ import annotations

import re
import sys
import tomllib

# Imported by notebooks and the kernel, never by a service process.
NOTEBOOK_ONLY = {"ipykernel", "ipywidgets", "jupyterlab", "matplotlib", "pandas"}


def service_requirements(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return [d for d in deps if re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() not in NOTEBOOK_ONLY]


if __name__ == "__main__":
    print("\n".join(service_requirements(sys.argv[1])))
