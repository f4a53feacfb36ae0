"""GraphQL federation (lesson 06): two strawberry subgraphs on the ticketing data, and a real gateway.

    data.py         each subgraph's SQLite tables, every statement counted (the N+1 is counted here)
    subgraph.py     a subgraph as a FastAPI app: per-request DataLoaders, counted queries, admin API
    users_graph.py  the User entity (name, email, balance) and its entity resolver
    orders_graph.py Order and Concert, and the orders of each User
    serve.py        runs one subgraph as a process
    queries.py      the documents known in advance: readiness, persisted queries
    node.py         which Node runs the gateway; `npm ci` of its pinned packages
    gateway/        the gateway: package.json + lockfile, gateway.mjs (Hive Gateway's runtime)
    components.py   registers users-graph, orders-graph and graphql (the gateway)

Layer: components.
"""
