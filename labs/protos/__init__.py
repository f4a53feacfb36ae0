"""The course's .proto files and the gRPC stubs generated from them (committed; never edit by hand).

Regenerate with `python -m labs.protos.generate`.

Layer: protos.
"""
