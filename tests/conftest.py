import os
import socket
import tempfile
import threading

import pytest

os.environ.setdefault("LABS_PROGRESS", "0")
# Claims checked by tests, and by the kernels they start, keep their evidence in a scratch file,
# never in the learner's data directory (labs.tools.evidence).
os.environ["LABS_EVIDENCE_FILE"] = os.path.join(tempfile.gettempdir(), f"labs-test-evidence-{os.getpid()}.jsonl")


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (`make test-unit`: -n 2 --dist loadgroup), a module's tests stay on one worker,
    in order, sharing their module fixtures; each notebook's Run All twice is a group of its own, so
    the longest tests spread over both workers. Without -n the marks change nothing."""
    for item in items:
        one_notebook = item.path.name == "test_run_all_twice.py"
        item.add_marker(pytest.mark.xdist_group(item.nodeid if one_notebook else str(item.path)))


@pytest.fixture(scope="session")
def brokers():
    """One RabbitMQ, Redis and Kafka-protocol broker shared by the whole test session."""
    import labs
    lab = labs.start("rabbitmq", "redis", "kafka")
    yield lab
    lab.stop()


class Echo:
    """A tiny threaded TCP echo server on 127.0.0.1, for tests that put a proxy in front of something."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()


@pytest.fixture(scope="module")
def echo():
    server = Echo()
    yield server
    server.sock.close()


@pytest.fixture(scope="module")
def api():
    """The base URL of a `chaos` server started as a lab component."""
    from labs import chaos
    client = chaos.server()
    yield client.base_url
    client.close()
