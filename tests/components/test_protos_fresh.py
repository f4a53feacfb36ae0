"""The committed gRPC stubs are what protoc makes of the committed .proto files today."""
import re

from labs.protos import generate

# What only stamps the generator's own version: a newer grpcio-tools changes it without the
# stubs being stale (the runtime versions it demands are pyproject's lower bounds).
VERSION_STAMPS = re.compile(r"# Protobuf Python Version: .*|GRPC_GENERATED_VERSION = .*"
                            r"|_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)")


def _normalized(text: str) -> str:
    return VERSION_STAMPS.sub("<version>", text)


def test_committed_stubs_match_the_protos(tmp_path):
    fresh = generate.generate(tmp_path)
    assert fresh, "protoc generated nothing"
    stale = []
    for path in fresh:
        committed = generate.HERE / path.name
        if not committed.exists() or _normalized(committed.read_text()) != _normalized(path.read_text()):
            stale.append(path.name)
    assert not stale, f"stale gRPC stubs {stale}: run `python -m labs.protos.generate` and commit the result"


def test_every_proto_has_its_stubs_committed():
    for proto in generate.proto_files():
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert (generate.HERE / f"{proto.stem}{suffix}").exists(), f"{proto.stem}{suffix} is not generated"
