"""Command line: `python -m labs up|status|doctor|clean|npm|evidence|preflight|serve-class`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading

from .runtime import LabError, component_names


def _cmd_up(args: argparse.Namespace) -> int:
    import labs
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    options = {"rabbitmq": {"management": True}} if args.management else None
    try:
        lab = labs.start(*args.names, backend=args.backend, options=options, progress=not args.json)
    except LabError as exc:
        print(f"labs up: {exc}", file=sys.stderr)
        return 1
    endpoints = {name: lab.endpoint(name) for name in lab.names}
    if args.json:
        print(json.dumps(endpoints), flush=True)
    else:
        for name, ep in endpoints.items():
            print(f"{name:<10} " + "  ".join(f"{k}={v}" for k, v in ep.items()), flush=True)
        print("running; press Ctrl-C to stop", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    lab.stop()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .runtime.status import running_components
    rows = running_components()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no lab components are running")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        owner = f"owner pid {r['owner']}" + ("" if r["owner_alive"] else " (gone: `python -m labs clean` stops it)")
        backend = " (docker)" if r.get("backend") == "docker" else ""
        print(f"{r['name']:<{width}} {'up' if r['alive'] else 'down':<5} {', '.join(r['endpoint'].values())}  {owner}{backend}")
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from .runtime.status import clean_orphans
    for line in clean_orphans():
        print(line)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .runtime.doctor import doctor
    report = doctor()
    print(report)
    return 0 if report.ok else 1


def _cmd_npm(args: argparse.Namespace) -> int:
    from .runtime import node
    return node.main([args.action])


def _lesson_arg(value: str) -> str:
    from .tools.evidence import check_lesson
    try:
        return check_lesson(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_evidence(args: argparse.Namespace) -> int:
    from .tools import evidence
    where = evidence.path()
    if args.clear:
        print(f"removed {evidence.clear()} recorded line(s) from {where}" if where else
              "LABS_EVIDENCE_FILE=off: nothing is recorded, nothing to clear")
        return 0
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", evidence.EvidenceWarning)
        found = evidence.read(args.lesson).latest()
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps([dataclasses.asdict(e) for e in found]))
        return 0
    print(f"evidence file: {where or 'none (LABS_EVIDENCE_FILE=off)'}")
    if not found:
        print("no claims recorded yet: run a lesson's notebook in JupyterLab (or call check.lesson(\"NN\") in it)")
    for e in found:
        print(f"{e.lesson}  {e.claim}  [{e.figure()}]  {e.when}")
    return 0


def _cmd_preflight(args: argparse.Namespace) -> int:
    from .tools.preflight import preflight
    print(f"preflight: the doctor, then every component started once with one real round trip each",
          file=sys.stderr, flush=True)
    report = preflight(args.names or None, progress=not args.quiet)
    print(report, flush=True)
    return 0 if report.ok else 1


def _cmd_serve_class(args: argparse.Namespace) -> int:
    from .runtime.progress import bar
    from .tools.classroom import ClassServer, check_host
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = ClassServer(args.seats, folder=args.dir, host=check_host(args.host), name=args.name,
                             components=tuple(args.components.split(",")),
                             owners=[u for u in args.owners.split(",") if u] if args.owners else None)
        total = (1 if "rabbitmq" in server.components else 0) + args.seats * sum(
            c in server.components for c in ("redis", "kafka"))
        with bar(total=total, desc=f"starting a class of {args.seats}", unit="broker") as progress:
            server.start(progress)
    except (LabError, ValueError) as exc:
        print(f"labs serve-class: {exc}", file=sys.stderr)
        return 1
    print(server.summary(), flush=True)
    print("running; press Ctrl-C to stop the class (the seat files are removed)", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    import labs  # noqa: F401  (registers the components, so names below are complete)
    parser = argparse.ArgumentParser(prog="python -m labs", description="MSA Communication Lab runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start components and keep them running until Ctrl-C / SIGTERM")
    up.add_argument("names", nargs="*", metavar="NAME", help=f"components (default: all): {', '.join(component_names())}")
    up.add_argument("--json", action="store_true", help="print one line of JSON with the endpoints once ready")
    up.add_argument("--backend", choices=["local", "docker"], default=None)
    up.add_argument("--management", action="store_true", help="enable RabbitMQ's management UI")
    up.set_defaults(func=_cmd_up)
    st = sub.add_parser("status", help="list the components running on this machine for this user")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_cmd_status)
    sub.add_parser("doctor", help="check every prerequisite and print the command that fixes what is missing"
                   ).set_defaults(func=_cmd_doctor)
    sub.add_parser("clean", help="stop components whose owner has gone").set_defaults(func=_cmd_clean)
    npm = sub.add_parser("npm", help="the pinned npm packages some lessons run on (make setup installs them)")
    npm.add_argument("action", choices=["install", "status"])
    npm.set_defaults(func=_cmd_npm)
    ev = sub.add_parser("evidence", help="the claims your notebooks proved (the last run of each), or --clear them")
    ev.add_argument("--clear", action="store_true", help="forget every recorded claim")
    ev.add_argument("--lesson", default=None, type=_lesson_arg, help="only this lesson's, e.g. 09")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_cmd_evidence)
    pre = sub.add_parser("preflight", help="before a workshop: the doctor, every component started once, one "
                         "round trip each, a verdict with the fix; exit 0 only when every lesson can run")
    pre.add_argument("names", nargs="*", metavar="NAME",
                     help=f"only these components and what they require (default: all): {', '.join(component_names())}")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(func=_cmd_preflight)
    cls = sub.add_parser("serve-class", help="one server for a whole class: a RabbitMQ vhost, a Redis and a "
                         "Kafka-protocol broker per seat; learners set LABS_CLASS to their seat file")
    cls.add_argument("--seats", type=int, default=30, help="learners (1-200, default 30)")
    cls.add_argument("--host", default="127.0.0.1",
                     help="the address to listen on and to write into the seat files: 127.0.0.1 (the default) "
                          "for learners on this machine (JupyterHub), this machine's LAN address for laptops; "
                          "the seats' credentials are then the protection")
    cls.add_argument("--dir", default="class", help="where to write class.json and seats/seat-NN.json")
    cls.add_argument("--name", default="workshop", help="the class's name, written into each seat file")
    cls.add_argument("--components", default="rabbitmq,redis,kafka",
                     help="which brokers the class server provides (comma-separated)")
    cls.add_argument("--owners", default="", help="as root: comma-separated Unix users, one per seat in order; "
                     "each seat file is then readable by its learner only (JupyterHub: set each user's "
                     "LABS_CLASS to their seat file in the spawner's environment)")
    cls.set_defaults(func=_cmd_serve_class)
    args = parser.parse_args(argv)
    if args.command in ("up", "preflight"):
        unknown = [n for n in args.names if n not in component_names()]
        if unknown:
            parser.error(f"unknown component {unknown[0]!r}; choose from: {', '.join(component_names())}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
