"""RabbitMQ's direct start: the same broker as through its script, started with half the CPU."""
from pathlib import Path

import pika
import pytest

import labs
from labs.components import rabbitmq_boot
from labs.components.brokers import RABBITMQ

SCRIPT = RABBITMQ.server_script()
needs_rabbitmq = pytest.mark.skipif(SCRIPT is None, reason="rabbitmq-server is not installed")


@needs_rabbitmq
def test_the_code_path_holds_only_what_the_broker_and_its_plugins_need():
    lay, why = rabbitmq_boot.layout(SCRIPT)
    assert lay is not None, why
    bundled, from_otp = rabbitmq_boot.applications(lay, ["rabbit", "mnesia"])
    names = {d.name.rsplit("-", 1)[0] for d in bundled}
    assert {"rabbit", "rabbit_common", "rabbitmq_prelaunch", "ra", "osiris"} <= names
    assert not names & {"rabbitmq_mqtt", "rabbitmq_management", "cowboy"}
    assert {"kernel", "stdlib", "mnesia", "ssl"} <= {d.name.rsplit("-", 1)[0] for d in from_otp}
    with_ui, _ = rabbitmq_boot.applications(lay, ["rabbit", "rabbitmq_management"])
    assert {"rabbitmq_management", "rabbitmq_web_dispatch", "cowboy"} <= {d.name.rsplit("-", 1)[0] for d in with_ui}


@needs_rabbitmq
def test_the_plan_starts_the_vm_already_distributed_without_the_script(tmp_path):
    plan = rabbitmq_boot.direct_start(SCRIPT, tmp_path, "labs1@localhost", 25999, [])
    assert plan.ok, plan.reason
    assert plan.argv[plan.argv.index("-sname") + 1] == "labs1@localhost"
    assert "inet_dist_use_interface" in plan.argv  # the distribution port stays on loopback
    assert not Path(plan.env["RABBITMQ_CONF_ENV_FILE"]).exists()  # nothing to source through sh
    assert (tmp_path / "erl_libs" / f"rabbit-{plan.version}").is_symlink()


def test_script_mode_and_unverified_versions_use_the_script(tmp_path, monkeypatch):
    home = tmp_path / "rabbitmq_server-4.0.5"
    (home / "sbin").mkdir(parents=True)
    (home / "plugins" / "rabbit-4.0.5" / "ebin").mkdir(parents=True)
    (home / "plugins" / "rabbit-4.0.5" / "ebin" / "rabbit.app").write_text("{application, rabbit, []}.")
    script = home / "sbin" / "rabbitmq-server"
    script.write_text("#!/bin/sh\n")
    ok, why = rabbitmq_boot.describe(str(script))
    if rabbitmq_boot.layout(str(script))[0] is not None:  # needs an Erlang installation
        assert not ok and "4.0.5" in why and "LABS_RABBITMQ_START=direct" in why
    monkeypatch.setenv("LABS_RABBITMQ_START", "script")
    assert rabbitmq_boot.describe(str(script)) == (False, "the start script (LABS_RABBITMQ_START=script)")
    monkeypatch.setenv("LABS_RABBITMQ_START", "fast")
    with pytest.raises(ValueError, match="auto, direct, script"):
        rabbitmq_boot.mode()


@needs_rabbitmq
def test_doctor_says_how_rabbitmq_starts():
    text = str(labs.doctor())
    assert "how rabbitmq starts" in text


@needs_rabbitmq
@pytest.mark.brokers
def test_a_directly_started_broker_keeps_durable_messages_across_a_restart():
    lab = labs.start("rabbitmq", progress=False)  # the session's broker: other tests use it after this one
    assert any("-sname" in " ".join(p.spec.argv) for p in lab.component("rabbitmq")._procs)
    conn = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"]))
    ch = conn.channel()
    ch.queue_declare("boot-durable", durable=True)
    ch.basic_publish("", "boot-durable", b"kept", pika.BasicProperties(delivery_mode=2))
    conn.close()
    lab.restart("rabbitmq")
    conn = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"]))
    ch = conn.channel()
    _, _, body = ch.basic_get("boot-durable", auto_ack=True)
    ch.queue_delete("boot-durable")
    conn.close()
    assert body == b"kept"
    assert all(addr.startswith(("127.0.0.1:", "[::1]:")) for addr in lab.listeners("rabbitmq"))
