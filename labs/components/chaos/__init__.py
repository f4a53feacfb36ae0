"""The `chaos` component: a fault-injecting TCP proxy server that speaks Toxiproxy's HTTP API.

`python -m labs.components.chaos --host 127.0.0.1 --http-port P` runs it (see server.py);
component.py registers it with the runtime; toxics.py holds the toxics' names and valid ranges.
"""
