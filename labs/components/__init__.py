"""Components: the brokers and (later) the ticketing services, registered with the runtime."""
from . import brokers  # noqa: F401  (registers rabbitmq, redis, kafka)
