"""Components: the brokers, the ticketing services and the GraphQL lab, registered with the runtime.

Layer: components.
"""
from . import brokers  # noqa: F401  (registers rabbitmq, redis, kafka)
from .ticketing import components as _ticketing  # noqa: F401  (registers users, concerts, payments, notifications, orders)
from .chaos import component as _chaos  # noqa: F401  (registers chaos, the fault-injecting proxy)
from .graphql import components as _graphql  # noqa: F401  (registers users-graph, orders-graph, graphql)
from .registry import etcd as _etcd, haproxy as _haproxy, dns as _dns  # noqa: F401  (registers etcd, haproxy, dns)
from .gateway import component as _gateway  # noqa: F401  (registers gateway, gateway-2, edge, bff: lesson 08)
