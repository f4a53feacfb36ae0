"""Codespaces / dev containers: .devcontainer/devcontainer.json against the dev container spec's rules
for the fields it uses (tests/fixtures/devcontainer-fields.schema.json; no network at test time), and
the start script's pre-flight."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema  # not a direct dependency, but always present: nbformat -> jsonschema
import pytest

REPO = Path(__file__).resolve().parents[1]
DEVCONTAINER = REPO / ".devcontainer" / "devcontainer.json"
SCHEMA = json.loads((REPO / "tests" / "fixtures" / "devcontainer-fields.schema.json").read_text())


def config() -> dict:
    return json.loads(DEVCONTAINER.read_text())  # strict JSON: no comments, no trailing commas


def errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def test_devcontainer_json_follows_the_spec_for_every_field_it_uses():
    assert errors(config()) == []


@pytest.mark.parametrize("change, fragment", [
    (lambda c: c.update(postStartComand="typo"), "postStartComand"),
    (lambda c: c["hostRequirements"].update(memory="4 GB"), "does not match"),
    (lambda c: c["portsAttributes"]["8888"].update(onAutoForward="open"), "is not one of"),
    (lambda c: c.update(forwardPorts=[70000]), "forwardPorts"),
    (lambda c: c.update(waitFor="postStart"), "is not one of"),
])
def test_the_check_is_real(change, fragment):
    broken = copy.deepcopy(config())
    change(broken)
    assert any(fragment in e for e in errors(broken)), errors(broken)


def test_docker_in_docker_and_the_scripts_it_names():
    c = config()
    assert any(f.startswith("ghcr.io/devcontainers/features/docker-in-docker:") for f in c["features"])
    assert "bookworm" in c["image"] and "3.11" in c["image"]  # what CI runs: Debian 12, Python 3.11
    for key in ("onCreateCommand", "postStartCommand"):
        script = REPO / c[key].split()[-1]
        assert script.is_file(), key
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def _post_start(tmp_path: Path, help_text: str) -> list[str]:
    """Run post-start.sh in a copy whose venv python records its arguments and prints `help_text`."""
    (tmp_path / ".devcontainer").mkdir()
    shutil.copy(REPO / ".devcontainer" / "post-start.sh", tmp_path / ".devcontainer")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n[ "$3" = "--help" ] && echo "{help_text}"\nexit 0\n')
    fake.chmod(0o755)
    subprocess.run(["bash", str(tmp_path / ".devcontainer" / "post-start.sh")], check=True, capture_output=True)
    return (tmp_path / "calls").read_text().splitlines()


def test_post_start_runs_the_preflight_when_the_lab_has_one(tmp_path):
    assert _post_start(tmp_path, "{up,status,doctor,preflight,clean}")[-1] == "-m labs preflight"


def test_post_start_falls_back_to_the_doctor(tmp_path):
    assert _post_start(tmp_path, "{up,status,doctor,clean}")[-1] == "-m labs doctor"
