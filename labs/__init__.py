"""MSA Communication Lab: real brokers and services for learning how microservices talk.

    import labs
    from labs import check, trace, bench, chaos
    lab = labs.start("rabbitmq", "redis", "kafka")
    lab.endpoint("rabbitmq")   # {"amqp": "amqp://guest:guest@127.0.0.1:PORT/%2F"}

The public face of the package. Below it, in layers that never import upward (an import-linter
contract in pyproject.toml, run by `make test`, enforces it):

    runtime/     processes, ports, readiness, cleanup, the docker backend, doctor, child processes
    tracing/     the hooks every process installs so `labs.trace` can see its calls
    components/  what labs.start runs: brokers, chaos, the ticketing services, ...
    clients/     how code talks to a component: rabbit, kafka, chaos, faults, ticketing
    tools/       check, trace, bench, widgets, resilience policies, tls, smoke
    lessons/     one module per lesson topic: `from labs.lessons import queues`
    exercises/   one checker module per lesson

Tools are reached from here, `from labs import check, trace, bench`: imported on first use, so
`import labs` stays quick and does not load grpc or matplotlib.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import components  # noqa: F401  (registers every component with the runtime)
from .runtime import Lab, LabError, StartError, UnknownComponent, component_names, start
from .runtime.doctor import doctor
from .tools import check as _check

__version__ = "0.1.0"

# name -> module, imported on first use (PEP 562)
_LAZY = {
    "bench": "labs.tools.bench",
    "chaos": "labs.clients.chaos",
    "check": "labs.tools.check",
    "resilience": "labs.tools.resilience",
    "smoke": "labs.tools.smoke",
    "tls": "labs.tools.tls",
    "trace": "labs.tools.trace",
    "widgets": "labs.tools.widgets",
}
__all__ = ["Lab", "LabError", "StartError", "UnknownComponent", "component_names", "doctor", "evidence", "start",
           *_LAZY]

# The exercises sit above the tools that check them, so tools.check cannot import them; it asks
# this loader the first time an exercise is looked up.
_check.set_exercise_loader(lambda: importlib.import_module("labs.exercises"))


def evidence(lesson: Any = None):
    """The claims you saw pass, kept between sessions (of one lesson: `labs.evidence("09")`); see
    labs.tools.evidence. `.latest()` keeps the last run of each claim, `.table()` shows them."""
    from .tools import evidence as store
    return store.read(lesson)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'labs' has no attribute {name!r}; it offers: {', '.join(sorted(__all__))}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
