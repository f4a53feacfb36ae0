"""The doctor's Docker line: an engine alone is not enough for the docker backend, Compose v2 is needed."""
import stat

from labs.runtime import doctor

FAKE = """#!/bin/sh
[ "$1" = info ] && { echo 20.10.24; exit 0; }
[ "$1" = compose ] && [ -n "$FAKE_COMPOSE" ] && { echo 2.40.3; exit 0; }
echo "docker: 'compose' is not a docker command." >&2; exit 1
"""


def _fake_docker(tmp_path, monkeypatch):
    script = tmp_path / "docker"
    script.write_text(FAKE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")


def test_an_engine_without_compose_v2_is_not_usable(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch)
    ok, detail = doctor._docker_usable()
    assert not ok and "no Compose v2 plugin" in detail and "20.10.24" in detail


def test_an_engine_with_compose_v2_is(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_COMPOSE", "1")
    assert doctor._docker_usable() == (True, "engine 20.10.24, compose 2.40.3")
