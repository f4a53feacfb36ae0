"""`Lab`: the handle a notebook holds on the components it started.

Layer: runtime.
"""
from __future__ import annotations

import atexit
import html
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable

from . import args, budget, scratch
from .progress import bar as progress_bar
from .component import Component, LocalComponent, component_names, get_spec, state_root
from .errors import LabError, StartError
from .reaper import Reaper

BACKENDS = ("local", "docker")


class LogText(str):
    """A component's log: a plain str that a notebook shows as text rather than as a quoted repr."""

    def __repr__(self) -> str:
        return str(self)


class _Session:
    """Every component this Python process runs, so a second `labs.start` reuses them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.components: dict[tuple[str, str], Component] = {}
        self.threads: dict[tuple[str, str], threading.Thread] = {}
        self.reaper = Reaper()
        self._trace_dir: Path | None = None
        atexit.register(self.stop_all)

    def trace_dir(self) -> Path:
        """Where this session's components append the calls they trace (see labs.tracing)."""
        with self.lock:
            if self._trace_dir is None:
                self._trace_dir = Path(tempfile.mkdtemp(prefix="trace-", dir=state_root()))
                self.reaper.remove_dir_later(str(self._trace_dir))
            return self._trace_dir

    def clear_traces(self) -> int:
        """Empty every span file of this session (emptied, not removed: services keep them open)."""
        with self.lock:
            directory = self._trace_dir
        emptied = 0
        for path in directory.iterdir() if directory is not None else ():
            try:
                if path.stat().st_size:
                    os.truncate(path, 0)
                    emptied += 1
            except OSError:
                pass
        return emptied

    def create(self, backend: str, name: str, options: dict) -> Component:
        spec = get_spec(name)
        if "replicas" in options:
            from .replicas import create
            return create(spec, options, self.reaper, backend)
        if backend == "local":
            return LocalComponent(spec, options, self.reaper)
        from .docker import DockerComponent, runs_in_docker  # only when asked for: it needs a Docker engine
        if runs_in_docker(spec):
            return DockerComponent(spec, options, self.reaper)
        return LocalComponent(spec, options, self.reaper)  # no compose service, or an external instance

    def stop_all(self) -> None:
        with self.lock:
            comps = list(self.components.values())
            self.components.clear()
        threads = [threading.Thread(target=_quiet_stop, args=(c,)) for c in comps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _quiet_stop(component: Component) -> None:
    try:
        component.stop()
    except Exception:
        pass


_session = _Session()


def trace_dir() -> Path:
    return _session.trace_dir()


def session_reaper() -> Reaper:
    """The watchdog of this Python process: what it watches stops when the process dies (labs.runtime.child)."""
    return _session.reaper


def resolve_backend(backend: str | None) -> str:
    chosen = backend or os.environ.get("LABS_BACKEND") or "local"
    if chosen not in BACKENDS:
        raise LabError(f"unknown backend {chosen!r}; choose from: {', '.join(BACKENDS)}")
    return chosen


class ResetReport(dict):
    """What `lab.reset()` did, per component: {"redis": "flushed (3 keys)", ...}; shown one per line."""

    seconds: float = 0.0

    def __repr__(self) -> str:
        width = max(map(len, self), default=0)
        lines = [f"{name:<{width}}  {what}" for name, what in self.items()]
        return "\n".join(lines + [f"reset in {self.seconds:.2f} s"])

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in self.items())
        return f"<table>{rows}</table><p>reset in {self.seconds:.2f} s</p>"


class Lab:
    """The components one `labs.start(...)` call asked for. Use it as a context manager
    to stop them at the end of a block; otherwise they stop when the kernel stops."""

    def __init__(self, backend: str, components: dict[str, Component]):
        self.backend = backend
        self._components = components

    @property
    def names(self) -> list[str]:
        return list(self._components)

    def component(self, name: str) -> Component:
        if name not in self._components:
            raise LabError(f"{name!r} is not part of this lab; it has: {', '.join(self._components) or 'nothing'}")
        return self._components[name]

    def wait(self, timeout: float | None = None, progress: bool = True) -> "Lab":
        """Block until every component is ready (with a progress bar); raise the first start error."""
        if timeout is not None:
            args.positive_seconds("timeout", timeout, 3600)
        deadline = None if timeout is None else time.monotonic() + timeout
        starting = [n for n in self._components
                    if (t := _session.threads.get((self.backend, n))) is not None and t.is_alive()]
        if deadline is None:
            _wait_with_progress(self, starting, progress)
        for name in self._components:
            self._wait_for(name, deadline)
        return self

    def _wait_for(self, name: str, deadline: float | None = None) -> Component:
        comp = self.component(name)
        thread = _session.threads.get((self.backend, name))
        if thread is not None:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise TimeoutError(f"{name} is still starting")
        if comp.state == "failed" and comp.error is not None:
            err = comp.error
            raise err if isinstance(err, StartError) else StartError(name, str(err))
        return comp

    @property
    def ready(self) -> bool:
        return all(c.state == "ready" for c in self._components.values())

    def endpoint(self, name: str) -> dict[str, str]:
        """Addresses of a component, e.g. {"amqp": "amqp://..."}; waits while it is still starting."""
        return self._wait_for(name).endpoint

    def logs(self, name: str, lines: int = 50) -> LogText:
        args.whole("lines", lines, 0, 100_000)
        return LogText(self.component(name).logs(lines))

    def kill(self, name: str) -> None:
        """SIGKILL a component, as a crash would (its data dir is kept for a restart)."""
        self._wait_for(name).kill()

    def restart(self, name: str) -> None:
        """Stop a component and start it again on the same addresses and data."""
        comp = self._wait_for(name)
        comp.restart()

    def replicas(self, name: str) -> list[Component]:
        """The instances of a component started with options={name: {"replicas": n}}, each one a
        component to kill, stop, start or restart on its own (`restart(new_ports=True)`: it moved).
        A component started without the option is its one instance."""
        comp = self._wait_for(name)
        return list(getattr(comp, "replicas", [comp]))

    def reset(self, name: str | None = None) -> ResetReport:
        """Bring every component of this lab (or just `name`) back to a lesson's starting state without
        restarting it: queues, topics, keys, seats, toxics and fault rules gone, the trace store
        emptied (with no name). A component that was killed or stopped is started again first."""
        if name is not None and name not in self._components:
            self.component(name)  # raises, naming the lab's components
        names = [name] if name is not None else list(self._components)
        started = time.monotonic()
        for n in names:
            comp = self._wait_for(n)
            if comp.state != "ready" or not comp.alive():
                comp.restart()
        done, errors = {}, {}

        def one(n: str) -> None:
            try:
                done[n] = self._components[n].reset() or "nothing to reset"
            except Exception as exc:  # reported together below, after every other component is done
                errors[n] = exc

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report = ResetReport((n, done[n]) for n in names if n in done)
        if name is None:
            report["traces"] = f"trace store emptied ({_session.clear_traces()} span files)"
        report.seconds = time.monotonic() - started
        if errors:
            detail = "; ".join(f"{n}: {exc}" for n, exc in errors.items())
            raise LabError(f"could not reset {', '.join(errors)} ({detail}); the others were reset")
        return report

    def stop(self) -> None:
        for name in self._components:
            thread = _session.threads.get((self.backend, name))
            if thread is not None:
                thread.join()
        comps = list(self._components.values())
        threads = [threading.Thread(target=_quiet_stop, args=(c,)) for c in comps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with _session.lock:
            for name, comp in self._components.items():
                if _session.components.get((self.backend, name)) is comp:
                    del _session.components[(self.backend, name)]

    def listeners(self, name: str) -> list[str]:
        """Addresses the component listens on, as "ip:port"."""
        return self._wait_for(name).listeners()

    def status(self) -> list[dict]:
        rows = []
        named = [(r.name, r) for name, comp in self._components.items()
                 for r in getattr(comp, "replicas", [comp])]  # one row per replica
        for name, comp in named:
            try:
                address = ", ".join(comp.endpoint.values()) if comp.state == "ready" else ""
            except LabError:
                address = ""
            rows.append({
                "name": name, "state": comp.state if comp.state != "ready" or comp.alive() else "dead",
                "address": address,
                "ready_s": None if comp.ready_seconds is None else round(comp.ready_seconds, 2),
                "rss_mib": round(comp.rss_bytes() / 2**20, 1),
            })
        return rows

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        parts = [f"{r['name']}={r['state']}" for r in self.status()]
        return f"<Lab {self.backend}: {' '.join(parts)}>"

    def _repr_html_(self) -> str:
        rows = self.status()
        head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0]) if rows else ""
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v if v is not None else ''))}</td>"
                                        for v in r.values()) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def start(*names: str, wait: bool = True, backend: str | None = None,
          options: dict[str, dict] | None = None, progress: bool = True) -> Lab:
    """Start the named components (all when none is named) and return a `Lab`.

    Components this kernel already runs are reused, so running a notebook twice is fast.
    With `wait=False` it returns at once and `lab.endpoint(name)` waits for that component.
    """
    backend = resolve_backend(backend)
    options = options or {}
    if not isinstance(options, dict) or not all(isinstance(o, dict) for o in options.values()):
        raise LabError("options must be a dict like {'rabbitmq': {'management': True}}")
    names = _with_requirements(tuple(names) or tuple(component_names()), options)
    budget.make_room()  # a small box (Binder): stop this user's idle lesson kernels first, and say so
    scratch.adopt(_session.reaper)  # this kernel's temp files go with it
    for name in options:
        if name not in names:
            raise LabError(f"options given for {name!r}, which is not being started ({', '.join(names)})")
    comps: dict[str, Component] = {}
    fresh: list[str] = []
    with _session.lock:
        for name in dict.fromkeys(names):
            spec = get_spec(name)
            opts = spec.validate_options(options.get(name, {}))
            key = (backend, name)
            comp = _session.components.get(key)
            if comp is not None and comp.options != opts:
                _quiet_stop(comp)
                _stop_dependents(backend, name)
                comp = None
            if comp is None:
                comp = _session.create(backend, name, opts)
                _session.components[key] = comp
            comps[name] = comp
            running = _session.threads.get(key)
            if running is not None and running.is_alive():
                continue
            if comp.state == "ready" and comp.alive():
                continue
            fresh.append(name)
            deps = [(key[0], dep) for dep in spec.requirements(opts)]
            thread = threading.Thread(target=_start_quietly, args=(comp, deps), name=f"labs-start-{name}",
                                      daemon=True)
            _session.threads[key] = thread
            thread.start()
    lab = Lab(backend, comps)
    if wait:
        _wait_with_progress(lab, fresh, progress)
    return lab


def _stop_dependents(backend: str, name: str) -> None:
    """Stop what requires `name` (it was told the address `name` had); the next start restarts it."""
    for (other_backend, other), comp in list(_session.components.items()):
        if other_backend == backend and name in comp.spec.requirements(comp.options) and comp.state != "stopped":
            _quiet_stop(comp)
            _stop_dependents(backend, other)


def _with_requirements(names: tuple, options: dict | None = None) -> tuple[str, ...]:
    """The names plus everything they require, each requirement before the component needing it."""
    ordered: dict[str, None] = {}

    def visit(name: object, path: tuple[str, ...]) -> None:
        spec = get_spec(name)  # raises UnknownComponent naming the valid choices
        if spec.name in path:
            raise LabError(f"components require each other in a cycle: {' -> '.join(path + (spec.name,))}")
        for dep in spec.requirements((options or {}).get(spec.name, {})):
            visit(dep, path + (spec.name,))
        ordered.setdefault(spec.name)

    for name in names:
        visit(name, ())
    return tuple(ordered)


def _start_quietly(comp: Component, deps: list[tuple[str, str]] = ()) -> None:
    """Start `comp` once the components it requires are ready, telling it their endpoints."""
    try:
        endpoints = {}
        for key in deps:
            thread = _session.threads.get(key)
            if thread is not None and thread is not threading.current_thread():
                thread.join()
            dep = _session.components.get(key)
            if dep is None or dep.state != "ready":
                comp.state = "failed"
                comp.error = StartError(comp.name, f"it requires {key[1]}, which is not running")
                return
            endpoints[key[1]] = dep.endpoint
        comp.extra_env = {"LABS_DEPENDENCIES": json.dumps(endpoints), "LABS_TRACE_DIR": str(_session.trace_dir())}
        comp.start()
    except Exception:
        pass  # kept in comp.error; Lab.wait / Lab.endpoint raise it


def _wait_with_progress(lab: Lab, fresh: Iterable[str], show: bool) -> None:
    fresh = list(fresh)
    errors: list[BaseException] = []
    pending = set(fresh)
    with progress_bar(total=len(fresh), desc="starting " + ", ".join(fresh), unit="component",
                      show=show and bool(fresh)) as bar:
        while pending:
            for name in list(pending):
                thread = _session.threads.get((lab.backend, name))
                if thread is None or not thread.is_alive():
                    pending.discard(name)
                    bar.update(1)
                    bar.set_postfix_str(f"{name} {lab.component(name).state}")
            time.sleep(0.05)
        for name in lab.names:
            try:
                lab._wait_for(name)
            except BaseException as exc:
                errors.append(exc)
    if errors:
        for name in fresh:  # leave nothing half-started behind this failed call
            if lab.component(name).state != "failed":
                _quiet_stop(lab.component(name))
        raise errors[0]
