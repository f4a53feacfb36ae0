"""`make lab` serves JupyterLab from the repository root (README, docs/ and solutions/ reachable from
the file browser) and opens lesson 00, with its token kept on.
"""
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from labs.runtime import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_jupyterlab_serves_lesson_00_and_requires_the_token():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    assert "--ServerApp.root_dir=\"$(CURDIR)\"" in recipe and "notebooks/00-welcome.ipynb" in recipe
    assert "token" not in recipe.lower()
    port, token = free_port(), "labs-test-token"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "notebooks/00-welcome.ipynb"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/status", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "JupyterLab did not come up within 60 s"
                time.sleep(0.3)
        assert httpx.get(f"{base}/api/contents/notebooks/00-welcome.ipynb").status_code == 403
        answer = httpx.get(f"{base}/api/contents/notebooks/00-welcome.ipynb", params={"token": token})
        assert answer.status_code == 200 and answer.json()["type"] == "notebook"
        for beside in ("README.md", "docs", "solutions"):  # the rest of the course, one click away
            assert httpx.get(f"{base}/api/contents/{beside}", params={"token": token}).status_code == 200
        page = httpx.get(f"{base}/lab/tree/notebooks/00-welcome.ipynb", params={"token": token})
        assert page.status_code == 200 and "JupyterLab" in page.text
    finally:
        server.terminate()
        server.wait(timeout=30)
