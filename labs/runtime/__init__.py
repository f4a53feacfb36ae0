"""Layer 1, the runtime: start and stop components as processes (local) or compose services (docker)."""
from .component import ComponentSpec, Prerequisite, component_names, get_spec, register, state_root
from .errors import LabError, MissingPrerequisite, StartError, UnknownComponent
from .lab import BACKENDS, Lab, LogText, resolve_backend, start, trace_dir
from .ports import HOST, free_port, is_listening

__all__ = ["BACKENDS", "ComponentSpec", "HOST", "Lab", "LabError", "LogText", "MissingPrerequisite",
           "Prerequisite", "StartError", "UnknownComponent", "component_names", "free_port",
           "get_spec", "is_listening", "register", "resolve_backend", "start", "state_root", "trace_dir"]
