"""Write an Envoy config for this lab, then become Envoy (exec: same process, same pid).

    python -m labs.components.gateway.launch gateway --data-dir D --http-port P --admin-port A \
        --jwks JWKS --options '{"rate_limit": 10}'
    python -m labs.components.gateway.launch balancer --data-dir D --http-port P --admin-port A \
        --replicas gateway,gateway-2

Layer: components. The runtime starts this as the component's process with LABS_DEPENDENCIES (the
endpoints of the services it fronts), which only this process sees; so the config is made here,
next to the descriptor set compiled from labs/protos, and written to the data dir (`envoy.json`,
for a learner who wants to read it). Then Envoy replaces this Python process: the runtime's reaper,
kill and logs see Envoy itself, and a config Envoy rejects ends the start with Envoy's own message
in the component's log.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ...protos.generate import descriptor_set
from . import config, envoy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("gateway", "balancer"))
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--jwks", default="")
    parser.add_argument("--options", default="{}", help="the component's options, as JSON")
    parser.add_argument("--replicas", default="", help="balancer: the gateway components behind it")
    args = parser.parse_args(argv)

    dependencies = json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}")
    options = json.loads(args.options)
    if args.kind == "gateway":
        services = {name: ep for name, ep in dependencies.items() if name in config.SERVICES}
        cfg = config.gateway(http_port=args.http_port, admin_port=args.admin_port, services=services,
                             bff=dependencies.get("bff", {}).get("http"), jwks=args.jwks,
                             descriptors=descriptor_set(args.data_dir / "ticketing.pb"), options=options,
                             name=os.environ.get("LABS_COMPONENT", "gateway"))
    else:
        names = [n for n in args.replicas.split(",") if n]
        missing = [n for n in names if n not in dependencies]
        if missing:
            raise SystemExit(f"balancer: no endpoint for {', '.join(missing)} in LABS_DEPENDENCIES")
        cfg = config.balancer(port=args.http_port, admin_port=args.admin_port,
                              replicas=[dependencies[n]["http"] for n in names])
    path = args.data_dir / "envoy.json"
    path.write_text(json.dumps(cfg, indent=1))
    if options.get("rate_limit_rule") is not None:
        # A rule written by hand: check it first, so a refusal reads as Envoy's reason in one line
        # (a start would print it followed by the whole config). Costs ~0.3 s, so only then.
        try:
            envoy.validate(path)
        except envoy.EnvoyRejected as err:
            raise SystemExit(str(err)) from None
    command = envoy.argv(path)
    print("starting", " ".join(command), flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
