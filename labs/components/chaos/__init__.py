"""The `chaos` component: a fault-injecting TCP proxy server that speaks Toxiproxy's HTTP API.

    python -m labs.components.chaos --host 127.0.0.1 --http-port 8474    # by hand
    labs.start("chaos").endpoint("chaos")["http"]                         # as a lab component

Laid out like Toxiproxy's own code: server.py wires it (argparse, one event loop); api.py is the
HTTP control API (h11); collection.py holds the proxies by name; proxy.py is one listener with its
links, toxics, stats and capture; link.py is one client<->upstream connection and its two pipes;
toxics/ has one module per toxic type (behaviour and attribute ranges) and the registry;
component.py registers it with the runtime.

Layer: components.
"""
