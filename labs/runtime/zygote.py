"""The fork server's side of labs.runtime.forkserver: run as a script, it imports what a request
names and forks a child that becomes `python -m module args`.

    python -u labs/runtime/zygote.py      # reads one JSON request per line on stdin, answers on stdout
    {"op": "fork", "preload": ["fastapi"], "module": "m", "args": [], "env": {}, "cwd": "/", "log": "/x.log"}
    -> {"pid": 123}             {"op": "status", "pid": 123} -> {"code": null | 0 | -15 ...}

Layer: runtime. Standard library only, and not imported as part of `labs`, so the children it forks
import the lab's modules themselves (see forkserver.py for why).
"""
from __future__ import annotations

import json
import os
import select
import sys
import threading
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _become(request: dict) -> None:
    """In the forked child: turn into `python -m module args`; never returns."""
    import runpy
    import signal
    import traceback
    code = 1
    try:
        os.setsid()
        # As a new interpreter has them: SIGPIPE ignored (a write to a closed socket raises rather
        # than killing the process), SIGINT raising KeyboardInterrupt, the rest as the OS sets them.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]  # as `python -m` has it
        sys.argv = [request["module"], *request["args"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _serve() -> None:
    import importlib
    codes: dict[int, int] = {}
    stdin, stdout = sys.stdin, sys.stdout

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            codes[pid] = os.waitstatus_to_exitcode(status)

    def answer(**fields) -> None:
        stdout.write(json.dumps(fields) + "\n")
        stdout.flush()

    while True:
        ready, _, _ = select.select([stdin], [], [], 0.05)
        reap()
        if not ready:
            continue
        line = stdin.readline()
        if not line:
            return  # the lab closed the pipe: it is done (or gone)
        request = json.loads(line)
        if request["op"] == "status":
            answer(code=codes.pop(request["pid"], None) if request["pid"] in codes else None)
            continue
        try:
            for name in request["preload"]:
                importlib.import_module(name)
            if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
                raise RuntimeError("the preloaded modules started threads; forking is not safe")
            pid = os.fork()
        except Exception as exc:
            answer(error=f"{type(exc).__name__}: {exc}")
            continue
        if pid == 0:
            _become(request)
        answer(pid=pid)


if __name__ == "__main__":
    # Run as a script, this file's folder heads sys.path, where labs/runtime's modules would shadow
    # top-level ones (docker, process, ...): drop it.
    if sys.path and Path(sys.path[0]).resolve() == _HERE:
        sys.path.pop(0)
    sys.path.insert(0, os.getcwd())
    _serve()
