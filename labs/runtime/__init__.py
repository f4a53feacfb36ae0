"""Layer 1, the runtime: start and stop components as processes (local) or compose services (docker).

    component  what a component is (a spec) and a running instance     lab       labs.start and the Lab handle
    process    one OS process of a component                           reaper    the watchdog that outlives nobody
    child      child processes a lesson starts itself                  docker    the docker backend
    ports      free loopback ports                                     probes    readiness in HTTP and gRPC
    service    a lab service written in Python                         doctor    what is missing, and the fix
    args       argument checks with one voice                          progress  progress bars, one switch
    waiting    poll_until (yes/no) and wait_ready (raises)             status    what runs, and who owns it
    replicas   N copies of one component, each on its own ports          node      Node, and the pinned npm folders

Layer: runtime.
"""
from . import args
from .component import ComponentSpec, Prerequisite, component_names, get_spec, register, state_root
from .errors import LabError, MissingPrerequisite, StartError, UnknownComponent
from .lab import BACKENDS, Lab, LogText, resolve_backend, start, trace_dir
from .ports import HOST, free_port, is_listening

__all__ = ["BACKENDS", "args", "ComponentSpec", "HOST", "Lab", "LabError", "LogText", "MissingPrerequisite",
           "Prerequisite", "StartError", "UnknownComponent", "component_names", "free_port",
           "get_spec", "is_listening", "register", "resolve_backend", "start", "state_root", "trace_dir"]
