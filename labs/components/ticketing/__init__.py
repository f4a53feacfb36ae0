"""The course's running example: concert ticketing, as a monolith and as five services.

    domain.py      data, business rules, the place-an-order flow (shared by every form)
    monolith.py    all of it in one process, plain method calls
    services/      each service's REST API (FastAPI) and gRPC API over its domain store
    serve.py       runs one service as a process
    remote.py      the domain's collaborators implemented by REST / gRPC calls
    clients.py     what lessons use: RestTicketing(lab), GrpcTicketing(lab), Monolith()
    faults.py      FaultRules(lab, name): L7 faults (HTTP status, gRPC code, latency) per route/method
    components.py  registers the five services with the lab runtime

Layer: components.
"""
