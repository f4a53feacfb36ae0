"""`python -m labs.components.chaos --host 127.0.0.1 --http-port P`: run the chaos server (see server.py).

Layer: components.
"""
from .server import main

main()
