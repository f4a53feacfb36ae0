"""The ticketing system's back office for lesson 13: settlement, search, recommendations, analytics.

    from labs.lessons import backoffice
    office = backoffice.start()                 # a child process (REST only), one per kernel
    office.url                                  # "http://127.0.0.1:P"
    office.record("settlement", "o-0001", {"amount": 40}, caller="orders")   # POST /settlement/records
    office.ids("settlement")                    # ["o-0001"] in arrival order (duplicates kept)
    office.wipe("analytics")                    # a rebuilt service starts empty
    office.faults                               # labs.clients.faults.FaultRules on it ("POST /settlement/records")

Four small services that react to orders and seat changes. Each keeps the ids of what reached it,
which is all the capstone needs to count what was lost or duplicated. They share one process
(`python -m labs.lessons.backoffice PORT`, a labs.runtime.child.Child: it dies with the kernel) to
spare the learner's machine: four FastAPI services would cost four Python processes. Built with the
ticketing services' app factory, so they answer /health, take fault rules and are traced like them.
They speak REST only: a synchronous choice for their flows is a REST call.

Layer: lessons (the ticketing services' app factory from components, the runtime's child processes).
"""
# No `from __future__ import annotations` here: FastAPI must see the request model defined inside
# build_app() as a class, not as a string it cannot resolve.
import sys
import threading
from typing import Any

KINDS = ("settlement", "search", "recommendations", "analytics")
NAME = "backoffice"
_running: list["Backoffice"] = []
_lock = threading.Lock()


# ---- the service (runs in the child) -----------------------------------------------------------------

def build_app():
    """The FastAPI app: POST/GET/DELETE /{kind}/records for each of KINDS, plus /health, /admin/*."""
    from typing import Annotated

    from pydantic import Field

    from ..components.ticketing.domain import NotFound
    from ..components.ticketing.services.common import Body, Id, new_app

    records: dict[str, list[str]] = {kind: [] for kind in KINDS}
    guard = threading.Lock()

    def reset() -> None:
        with guard:
            for kept in records.values():
                kept.clear()

    app = new_app(NAME, "Settlement, search, recommendations and analytics: what reacts to orders", reset=reset)

    class Record(Body):
        id: Id = Field(examples=["o-0001"], description="what this record is about: an order or a seat change")
        data: Annotated[dict[str, Any], Field(default_factory=dict, max_length=20)]

    def routes(kind: str) -> None:
        @app.post(f"/{kind}/records", status_code=201, tags=[kind], name=f"{kind}: record")
        def record(body: Record) -> dict[str, Any]:
            with guard:
                records[kind].append(body.id)
                return {"kind": kind, "id": body.id, "count": len(records[kind])}

        @app.get(f"/{kind}/records", tags=[kind], name=f"{kind}: list")
        def listing() -> dict[str, Any]:
            with guard:
                return {"kind": kind, "ids": list(records[kind])}

        @app.delete(f"/{kind}/records", tags=[kind], name=f"{kind}: wipe")
        def wipe() -> dict[str, Any]:
            with guard:
                removed = len(records[kind])
                records[kind].clear()
            return {"kind": kind, "removed": removed}

    for kind in KINDS:
        routes(kind)

    @app.api_route("/{kind}/records", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    def unknown(kind: str) -> None:
        raise NotFound(f"the back office has no service {kind!r}; it has {', '.join(KINDS)}")

    return app


def main(argv: list[str]) -> None:
    import uvicorn

    from .. import tracing

    port = int(argv[0])
    tracing.set_component(NAME)
    uvicorn.run(build_app(), host="127.0.0.1", port=port, log_level="warning")


# ---- the kernel's side ------------------------------------------------------------------------------

class Backoffice:
    """The running back office: its URL, a client per caller, and its fault rules."""

    def __init__(self) -> None:
        from ..runtime import trace_dir
        from ..runtime.child import Child
        from ..runtime.ports import free_port
        from ..runtime.probes import http_health
        from ..runtime.waiting import wait_ready

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.child = Child(__name__, str(port), name=NAME,
                           env={"LABS_TRACE_DIR": str(trace_dir()), "PYTHONUNBUFFERED": "1"})
        gone = lambda: None if self.child.alive else f"the back office exited: {self.child.last_words()}"  # noqa: E731
        try:
            wait_ready(lambda: http_health(self.url), timeout=30, giving_up=gone)
        except Exception:
            self.child.kill()
            raise
        self._links: dict[str, Any] = {}
        self._faults = None

    @property
    def alive(self) -> bool:
        return self.child.alive

    def endpoint(self, name: str = NAME) -> dict[str, str]:
        """What FaultRules and the lab's clients expect of a lab: {"http": url}."""
        return {"http": self.url}

    @property
    def faults(self):
        from ..clients.faults import FaultRules
        if self._faults is None:
            self._faults = FaultRules(self, NAME)
        return self._faults

    def link(self, kind: str, caller: str = "notebook", timeout: float = 2.0):
        """A kept-alive REST client from `caller` to one of the back office's services (traced as `kind`)."""
        from ..components.ticketing.remote import RestLink
        from ..runtime import args

        args.choice("kind", kind, KINDS)
        key = (kind, caller)
        with _lock:
            if key not in self._links:
                self._links[key] = RestLink(caller, kind, self.url, timeout=timeout)
            return self._links[key]

    def record(self, kind: str, record_id: str, data: dict | None = None, caller: str = "notebook") -> dict:
        return self.link(kind, caller).call("POST", f"/{kind}/records", {"id": record_id, "data": data or {}})

    def ids(self, kind: str) -> list[str]:
        return self.link(kind).call("GET", f"/{kind}/records")["ids"]

    def wipe(self, kind: str) -> int:
        return self.link(kind).call("DELETE", f"/{kind}/records")["removed"]

    def reset(self) -> None:
        """Every service empty and no fault rules."""
        self.link(KINDS[0]).call("POST", "/admin/reset")

    def stop(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
        if self._faults is not None:
            self._faults.close()
        self.child.stop(timeout=5)

    def __repr__(self) -> str:
        return f"<back office {', '.join(KINDS)} at {self.url} ({'running' if self.alive else 'stopped'})>"


def start() -> Backoffice:
    """The kernel's back office, started on first use (about a second: FastAPI's import)."""
    with _lock:
        if _running and _running[0].alive:
            return _running[0]
    office = Backoffice()
    with _lock:
        _running[:] = [office]
    return office


if __name__ == "__main__":
    main(sys.argv[1:])
