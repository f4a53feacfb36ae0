"""Layer: lessons. One module per lesson topic, holding the experiments a notebook runs on the real
components and the plots it shows: `from labs.lessons import queues`. The client code a lesson teaches
is written in the notebook's cells; these modules carry the plumbing around it (threads, child
processes, waiting, counting, plotting).

    welcome      00  what started, how long it took, how much memory it holds
    fallacies    02  the eight fallacies, one experiment each
    sync_async   03  the four quadrants, polling, chain availability
    handoff      03  a notification handed to RabbitMQ and delivered later
    resilience   03  retries, budgets, breakers, bulkheads and timeouts on the users service
    rest         04  REST on the ticketing API: fetch counts, keep-alive, HTTP/1.1 vs HTTP/2
    rpc          05  the .proto compiled live, the four call patterns
    showdown     05  REST vs gRPC unary vs gRPC streaming on one operation; 06: the order screen three ways
    graphql      06  the composed graph, field owners, N+1 counted, persisted queries, bad queries
    discovery    07  callers while instances die and move, removal against TTL, a stale DNS answer
    gateway      08  the API gateway: REST->gRPC bytes, tokens, per-client 429s, the BFF, gRPC-Web
    gateway_edge 08  retries and load shedding at the edge, failover under load, the hop's cost
    queues       09  competing consumers, prefetch, crashes, durability, full queues
    events       10  Redis pub/sub and fanout / topic exchanges into per-service queues
    eventlog         11  order events on a Kafka log, projections, replay, the same workload on a queue
    consumer_groups  11  group members in child processes sharing partitions, and rebalancing
    at_least_once    11  a consumer killed between effect and commit, and the idempotent cure
    choosing         13  the decision chart (+ choosing_content: its answers and recaps; choosing_widget)
    capstone         13  a design per flow, wired, run under faults, measured (+ capstone_*, backoffice)
"""
