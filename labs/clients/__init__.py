"""Layer: clients. How code talks to a running component, one module per component kind:

    rabbit     RabbitMQ with pika: connections, queues, publish/consume, a consumer thread, confirms
    kafka      kafka-python set up for the lab's broker (and where it differs from Apache Kafka)
    chaos      the fault-injecting proxy, through Toxiproxy's HTTP API
    faults     FaultRules: L7 faults (HTTP status, gRPC code, latency) on one route of a service
    ticketing  the running example as a lesson uses it: Monolith, RestTicketing, GrpcTicketing
    graphql    the GraphQL gateway and its subgraphs: queries, counted statements, the batching switch
    registry   lesson 07: etcd with etcd3gw (RegistryDown names the fix), a watched pool, HAProxy, DNS
    gateway    the API gateway (Envoy): the lab's token issuer (PyJWT), clients, Envoy's admin stats
    grpcweb    a real gRPC-Web call, as a browser app makes it (Connect's transport under Node)
"""
