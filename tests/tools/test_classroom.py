"""Class mode: seats isolated by credentials, learners' labs.start on their seat, lessons unchanged."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pika
import pytest
import redis

from labs.runtime.errors import LabError
from labs.tools.classroom import ClassServer, check_host

pytestmark = pytest.mark.brokers
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    server = ClassServer(2, folder=tmp_path_factory.mktemp("class"), name="test")
    with server:
        yield server
    assert not any(p.exists() for p in server.seat_files())  # the credentials go with the brokers


def _seat(klass, n: int) -> dict:
    return json.loads(klass.seat_files()[n - 1].read_text())["components"]


def _as_learner(klass, n: int, code: str) -> str:
    """Run `code` in a new Python process with LABS_CLASS set to seat `n`; returns what it printed."""
    env = {**os.environ, "LABS_CLASS": str(klass.seat_files()[n - 1]), "LABS_PROGRESS": "0"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_seat_files_are_readable_by_their_owner_only_and_name_each_broker(klass):
    for path in klass.seat_files():
        assert path.stat().st_mode & 0o077 == 0
    a, b = _seat(klass, 1), _seat(klass, 2)
    assert set(a) == {"rabbitmq", "redis", "kafka"}
    assert a["rabbitmq"]["amqp"].endswith("/seat01") and b["rabbitmq"]["amqp"].endswith("/seat02")
    assert a["redis"]["url"] != b["redis"]["url"] and a["kafka"] != b["kafka"]
    assert "127.0.0.1:" in a["rabbitmq"]["amqp"] and all("127.0.0.1" in v for v in a["redis"].values())


def test_learner_b_is_refused_on_learner_a_vhost(klass):
    a, b = _seat(klass, 1)["rabbitmq"]["amqp"], _seat(klass, 2)["rabbitmq"]["amqp"]
    pika.BlockingConnection(pika.URLParameters(a)).close()  # A's own credentials work
    b_on_a = b.rsplit("/", 1)[0] + "/seat01"
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError, match="access to vhost 'seat01' refused"):
        pika.BlockingConnection(pika.URLParameters(b_on_a))
    guest = "amqp://guest:guest@" + a.rsplit("@", 1)[1].rsplit("/", 1)[0] + "/%2F"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(guest))  # no guest/guest on a class server


def test_learner_b_cannot_read_learner_a_redis_keys(klass):
    a, b = _seat(klass, 1)["redis"]["url"], _seat(klass, 2)["redis"]["url"]
    mine = redis.Redis.from_url(a)
    mine.set("balance:u1", 70)
    assert mine.get("balance:u1") == b"70"
    a_address, b_password = a.rsplit("@", 1)[1], b.split(":")[2].split("@")[0]
    for url in (f"redis://:{b_password}@{a_address}", f"redis://{a_address}"):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(url).get("balance:u1")
    mine.delete("balance:u1")
    mine.close()


def test_a_learner_labs_start_uses_the_seat_and_resets_only_its_own_vhost(klass):
    a = pika.BlockingConnection(pika.URLParameters(_seat(klass, 1)["rabbitmq"]["amqp"]))
    a.channel().queue_declare("a-keeps-this")
    out = _as_learner(klass, 2, """
import json, labs, pika
from labs.tools import smoke
lab = labs.start("rabbitmq", "redis", "kafka")
print(json.dumps({n: lab.endpoint(n) for n in lab.names}))
print(json.dumps({n: smoke.roundtrip(lab, n) < 10 for n in lab.names}))
ch = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"])).channel()
ch.queue_declare("b-made-this")
print(json.dumps(dict(lab.reset())))
try:
    lab.restart("rabbitmq")
except labs.LabError as exc:
    print(json.dumps(str(exc)))
""")
    endpoints, roundtrips, reset, refusal = (json.loads(line) for line in out.strip().splitlines()[-4:])
    assert endpoints == _seat(klass, 2)
    assert all(roundtrips.values())
    assert reset["rabbitmq"] == "1 queue and 0 exchanges deleted"
    assert "shared by the class" in refusal and "unset LABS_CLASS" in refusal
    a.channel().queue_declare("a-keeps-this", passive=True)  # B's reset left A's vhost alone
    a.close()


@pytest.mark.parametrize("notebook", ["10-event-brokers.ipynb", "11-kafka-the-log.ipynb"])
def test_a_lesson_notebook_runs_unchanged_against_a_seat(klass, notebook):
    env = {**os.environ, "LABS_CLASS": str(klass.seat_files()[0]), "LABS_PROGRESS": "0"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval-lax",
                          str(ROOT / "notebooks" / notebook)],
                         env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:]


def test_bad_class_arguments_are_refused_with_the_allowed_values(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="1"):
        ClassServer(0, folder=tmp_path)
    with pytest.raises(ValueError, match="rabbitmq, redis, kafka"):
        ClassServer(2, folder=tmp_path, components=("rabbitmq", "mqtt"))
    with pytest.raises(ValueError, match="not a user of this machine"):
        ClassServer(2, folder=tmp_path, owners=["no-such-learner-here"])
    with pytest.raises(ValueError, match="at most one owner per seat"):
        ClassServer(1, folder=tmp_path, owners=["root", "root"])
    with pytest.raises(LabError, match="not 0.0.0.0"):
        check_host("0.0.0.0")
    with pytest.raises(LabError, match="not an address of this machine"):
        check_host("192.0.2.77")  # TEST-NET-1: never configured here
    monkeypatch.setenv("LABS_CLASS", str(tmp_path / "nope.json"))
    from labs.runtime import seat
    with pytest.raises(LabError, match="no such seat file"):
        seat.seat_endpoint("rabbitmq")
