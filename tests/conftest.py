import os

import pytest

os.environ.setdefault("LABS_PROGRESS", "0")


@pytest.fixture(scope="session")
def brokers():
    """One RabbitMQ, Redis and Kafka-protocol broker shared by the whole test session."""
    import labs
    lab = labs.start("rabbitmq", "redis", "kafka")
    yield lab
    lab.stop()
