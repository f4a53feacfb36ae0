"""MSA Communication Lab: real brokers and services for learning how microservices talk.

    import labs
    lab = labs.start("rabbitmq", "redis", "kafka")
    lab.endpoint("rabbitmq")   # {"amqp": "amqp://guest:guest@127.0.0.1:PORT/%2F"}
"""
from . import components  # noqa: F401  (registers every component with the runtime)
from .doctor import doctor
from .runtime import Lab, LabError, StartError, UnknownComponent, component_names, start
from .tools import chaos, check, trace, widgets  # widgets imports ipywidgets/matplotlib lazily

__version__ = "0.1.0"
__all__ = ["Lab", "LabError", "StartError", "UnknownComponent", "chaos", "check", "component_names", "doctor",
           "start", "trace", "widgets"]
