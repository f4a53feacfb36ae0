"""The memory guard of a small box (labs.runtime.budget): cgroup figures, and which kernels it stops.
The proof in a real Binder-sized box, with real kernels, is `make test-binder`."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from labs.runtime import budget

GiB = 2**30


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_cgroup_v2_limit_and_working_set(tmp_path):
    (tmp_path / "cgroup").write_text("0::/labs-binder\n")
    _write(tmp_path / "sys" / "labs-binder", {"memory.max": f"{2 * GiB}\n", "memory.current": f"{GiB}\n",
                                              "memory.stat": f"anon 1\ninactive_file {GiB // 4}\n"})
    mem = budget._cgroup_memory(tmp_path / "cgroup", tmp_path / "sys")
    assert mem == budget.Memory(limit=2 * GiB, used=GiB - GiB // 4)  # page cache that can go is not counted
    assert budget.small_box(mem)


def test_cgroup_v1_and_a_namespaced_root(tmp_path):
    # v1: the memory controller's own tree; in a container the cgroup path may not exist under its root.
    (tmp_path / "cgroup").write_text("4:cpu,cpuacct:/x\n3:memory:/kubepods/pod1/abc\n")
    _write(tmp_path / "sys" / "memory", {"memory.limit_in_bytes": f"{2 * GiB}\n", "memory.usage_in_bytes": f"{GiB}\n",
                                         "memory.stat": "cache 5\ntotal_inactive_file 0\n"})
    assert budget._cgroup_memory(tmp_path / "cgroup", tmp_path / "sys") == budget.Memory(2 * GiB, GiB)


def test_no_limit_is_not_a_small_box(tmp_path, monkeypatch):
    assert not budget.small_box(budget.Memory(limit=64 * GiB, used=GiB))
    monkeypatch.setenv("LABS_SMALL_BOX_GIB", "100")
    assert budget.small_box(budget.Memory(limit=64 * GiB, used=GiB))


class FakeServer:
    """A Jupyter server's /api/sessions: GET lists, DELETE removes (and records)."""

    def __init__(self, sessions: list[dict]):
        self.sessions, self.deleted = sessions, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(outer.sessions).encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def do_DELETE(self):
                sid = self.path.rsplit("/", 1)[-1]
                outer.deleted.append(sid)
                outer.sessions = [s for s in outer.sessions if s["id"] != sid]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.info = {"url": f"http://127.0.0.1:{self.httpd.server_port}/", "token": "t"}


def _session(sid: str, kernel: str, state: str, when: str, path: str) -> dict:
    return {"id": sid, "path": path, "kernel": {"id": kernel, "execution_state": state, "last_activity": when}}


@pytest.fixture
def box(monkeypatch):
    """A 2 GiB box whose working set drops by 0.6 GiB for each kernel stopped; this kernel is 'me'."""
    server = FakeServer([
        _session("s-me", "me", "busy", "2026-12-06T10:05:00Z", "notebooks/05-grpc.ipynb"),
        _session("s-old", "k1", "idle", "2026-12-06T10:01:00Z", "notebooks/03-sync-vs-async.ipynb"),
        _session("s-busy", "k2", "busy", "2026-12-06T10:00:00Z", "notebooks/02-eight-fallacies.ipynb"),
        _session("s-new", "k3", "idle", "2026-12-06T10:03:00Z", "notebooks/04-rest.ipynb"),
    ])
    used = {"now": 1.5 * GiB}
    monkeypatch.setattr(budget, "memory", lambda: budget.Memory(2 * GiB, int(used["now"] - 0.6 * GiB * len(server.deleted))))
    monkeypatch.setattr(budget, "_my_kernel_id", lambda: "me")
    monkeypatch.setattr(budget, "_servers", lambda: [{"url": "http://127.0.0.1:9/", "token": "x"}, server.info])
    monkeypatch.setattr(budget, "SETTLE_SECONDS", 0)
    yield server, used
    server.httpd.shutdown()


def test_the_oldest_idle_kernel_goes_first_and_only_as_many_as_needed(box, capsys):
    server, _ = box
    lines = budget.make_room()
    assert server.deleted == ["s-old"]  # 1.5 - 0.6 = 0.9 GiB, + 0.7 needed <= 1.8: enough
    assert "03-sync-vs-async.ipynb was stopped" in lines[0] and "run its cells again" in lines[0]
    assert lines[0] in capsys.readouterr().out


def test_a_busy_kernel_and_this_kernel_are_never_stopped(box):
    server, used = box
    used["now"] = 3 * GiB  # nothing is ever enough
    budget.make_room()
    assert server.deleted == ["s-old", "s-new"]


def test_nothing_is_stopped_when_the_lesson_fits(box):
    server, used = box
    used["now"] = 1.0 * GiB
    assert budget.make_room() == [] and server.deleted == []


def test_outside_a_kernel_or_a_small_box_nothing_is_asked(box, monkeypatch):
    server, _ = box
    monkeypatch.setattr(budget, "_my_kernel_id", lambda: None)  # nbval, a script
    assert budget.make_room() == []
    monkeypatch.setattr(budget, "_my_kernel_id", lambda: "me")
    monkeypatch.setattr(budget, "memory", lambda: budget.Memory(16 * GiB, 15 * GiB))
    assert budget.make_room() == [] and server.deleted == []


def test_a_server_that_does_not_run_this_kernel_is_left_alone(box, monkeypatch):
    server, _ = box
    monkeypatch.setattr(budget, "_my_kernel_id", lambda: "someone-else")
    assert budget.make_room() == [] and server.deleted == []
