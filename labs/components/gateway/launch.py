"""Fill the addresses of the services into an Envoy config, then become Envoy (exec: same pid).

    python labs/components/gateway/launch.py TEMPLATE.json CONFIG.json ENVOY [ENVOY ARGS...]

Layer: components, but run as a plain script with the standard library only: the component's config
is written in the kernel (component.py) with placeholders like "@users.grpc:port" for the addresses
of the services it fronts, which only this process knows (the runtime passes them in
LABS_DEPENDENCIES). Importing nothing from `labs` keeps the gateway's start at Envoy's own ~0.2 s.
Then Envoy replaces this process: the runtime's reaper, kill and logs see Envoy itself.
"""
import json
import os
import sys


def fill(value, dependencies):
    """Replace "@name.key:host" / "@name.key:port" strings with the dependency's address parts."""
    if isinstance(value, dict):
        return {k: fill(v, dependencies) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, dependencies) for v in value]
    if isinstance(value, str) and value.startswith("@") and value.endswith((":host", ":port")):
        ref, part = value[1:].rsplit(":", 1)
        name, key = ref.split(".", 1)
        try:
            address = dependencies[name][key]
        except KeyError:
            raise SystemExit(f"no {key} address for {name} in LABS_DEPENDENCIES: start it through the lab") from None
        host, port = address.removeprefix("http://").rstrip("/").rsplit(":", 1)
        return host if part == "host" else int(port)
    return value


def main() -> None:
    template, config, *envoy = sys.argv[1:]
    dependencies = json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}")
    with open(template) as f:
        filled = fill(json.load(f), dependencies)
    with open(config, "w") as f:
        json.dump(filled, f, indent=1)
    print("starting", " ".join(envoy), flush=True)
    os.execv(envoy[0], envoy)


if __name__ == "__main__":
    main()
