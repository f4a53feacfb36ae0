"""Replicas: N instances of one component on their own ports, each killed and moved on its own;
components started without the option behave exactly as before."""
import sys
from pathlib import Path

import httpx
import pytest

import labs
from labs.runtime.component import LocalComponent, _registry
from labs.runtime.errors import LabError
from labs.runtime.ports import is_listening
from labs.runtime.replicas import ReplicatedComponent
from labs.runtime.service import PythonService

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "health_service.py"


class Replicable(PythonService):
    name = "replica-fixture"
    http = grpc = True
    max_replicas = 4

    def command(self):
        return [sys.executable, str(FIXTURE)]


class Single(Replicable):
    name = "single-fixture"
    max_replicas = 1


class NeedsOnlyWhenAsked(Replicable):
    name = "asking-fixture"
    defaults = {"with_single": False}

    def requirements(self, options):
        return ("single-fixture",) if options.get("with_single") else ()


@pytest.fixture
def fixtures():
    specs = {s.name: s for s in (Replicable(), Single(), NeedsOnlyWhenAsked())}
    _registry.update(specs)
    yield
    for name in specs:
        _registry.pop(name, None)


def _port(endpoint):
    return int(endpoint["http"].rsplit(":", 1)[1])


def test_replicas_run_on_their_own_ports_and_are_killed_and_moved_one_at_a_time(fixtures):
    with labs.start("replica-fixture", options={"replica-fixture": {"replicas": 3}}, progress=False) as lab:
        replicas = lab.replicas("replica-fixture")
        assert [r.name for r in replicas] == ["replica-fixture-1", "replica-fixture-2", "replica-fixture-3"]
        ports = [_port(r.endpoint) for r in replicas]
        assert len(set(ports)) == 3 and all(is_listening(p) for p in ports)
        assert [row["name"] for row in lab.status()] == [r.name for r in replicas]
        assert lab.endpoint("replica-fixture") == replicas[0].endpoint

        replicas[0].kill()
        assert not is_listening(ports[0]) and all(is_listening(p) for p in ports[1:])
        assert lab.status()[0]["state"] == "killed"
        assert lab.endpoint("replica-fixture") == replicas[1].endpoint  # the first one that is up

        replicas[1].restart(new_ports=True)
        moved = _port(replicas[1].endpoint)
        assert moved != ports[1] and is_listening(moved) and not is_listening(ports[1])
        httpx.get(replicas[1].endpoint["http"] + "/health", timeout=2).raise_for_status()

        # starting the lab again brings back only the killed replica, on its old port
        again = labs.start("replica-fixture", options={"replica-fixture": {"replicas": 3}}, progress=False)
        assert again.replicas("replica-fixture")[0] is replicas[0]
        assert is_listening(ports[0]) and _port(replicas[1].endpoint) == moved
        assert "replica-fixture-2" in lab.logs("replica-fixture", 20)
    assert not any(is_listening(p) for p in (*ports, moved))


def test_without_the_option_a_component_is_what_it_was(fixtures):
    with labs.start("replica-fixture", progress=False) as lab:
        comp = lab.component("replica-fixture")
        assert type(comp) is LocalComponent and comp.options == {}
        assert lab.replicas("replica-fixture") == [comp]
        old = _port(comp.endpoint)
        lab.restart("replica-fixture")  # the same ports, as always
        assert _port(comp.endpoint) == old and is_listening(old)
    with labs.start("replica-fixture", options={"replica-fixture": {"replicas": 1}}, progress=False) as lab:
        assert isinstance(lab.component("replica-fixture"), ReplicatedComponent)


def test_bad_replica_counts_are_refused_with_the_range(fixtures):
    with pytest.raises(ValueError, match="replicas must be a whole number from 1 to 4, got 0"):
        labs.start("replica-fixture", options={"replica-fixture": {"replicas": 0}})
    with pytest.raises(ValueError, match="from 1 to 4, got '2'"):
        labs.start("replica-fixture", options={"replica-fixture": {"replicas": "2"}})
    with pytest.raises(LabError, match="single-fixture has no option 'replicas'; options: none"):
        labs.start("single-fixture", options={"single-fixture": {"replicas": 2}})
    with pytest.raises(LabError, match="local backend"):
        labs.start("replica-fixture", backend="docker", options={"replica-fixture": {"replicas": 2}})


def test_an_option_can_add_a_requirement(fixtures):
    with labs.start("asking-fixture", progress=False) as lab:
        assert lab.names == ["asking-fixture"]
    with labs.start("asking-fixture", options={"asking-fixture": {"with_single": True}}, progress=False) as lab:
        assert lab.names == ["single-fixture", "asking-fixture"]
        assert "single-fixture" in lab.component("asking-fixture").extra_env["LABS_DEPENDENCIES"]


def test_a_component_restarted_with_other_options_takes_down_what_was_told_its_old_address(fixtures):
    # asking-fixture (with_single) requires single-fixture; single-fixture started again with other
    # options gets new ports, so asking-fixture must start again to learn them
    with labs.start("asking-fixture", options={"asking-fixture": {"with_single": True}}, progress=False) as lab:
        told = lab.component("asking-fixture").extra_env["LABS_DEPENDENCIES"]
        _registry["single-fixture"].defaults = {"flavour": "a"}
        try:
            labs.start("single-fixture", options={"single-fixture": {"flavour": "b"}}, progress=False)
            assert lab.component("asking-fixture").state == "stopped"
            again = labs.start("asking-fixture", options={"asking-fixture": {"with_single": True}},
                               progress=False)
            fresh = again.component("asking-fixture").extra_env["LABS_DEPENDENCIES"]
            assert fresh != told and again.endpoint("single-fixture")["http"] in fresh
        finally:
            _registry["single-fixture"].defaults = {}
