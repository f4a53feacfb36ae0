"""Regenerate the committed gRPC stubs from the .proto files beside this module.

    python -m labs.protos.generate            # rewrite labs/protos/*_pb2*.py(i) in place
    python -m labs.protos.generate --out DIR  # write them under DIR/labs/protos instead
    descriptor_set(path)                      # the compiled contract, for Envoy's transcoder (lesson 08)

protoc runs from the repository root with `-I .`, so the generated modules import each other
as `from labs.protos import ticketing_pb2`: absolute imports that work from any working directory.
The stubs are committed (learners need no compiler step); tests/test_protos_fresh.py fails when
they no longer match the .proto files.

Layer: protos.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the repository root: protoc's include path


def proto_files() -> list[Path]:
    return sorted(HERE.glob("*.proto"))


def _includes() -> list[str]:
    """protoc's -I paths: the repository, protobuf's well-known types (grpcio-tools ships them) and
    google/api/*.proto for the HTTP annotations (googleapis-common-protos ships them)."""
    import google.api.annotations_pb2
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(google.api.annotations_pb2.__file__).parents[2]
    return ["-I", str(ROOT), "-I", str(well_known), "-I", str(googleapis)]


def _protoc(*options: str) -> None:
    from grpc_tools import protoc

    sources = [str(p.relative_to(ROOT)) for p in proto_files()]
    code = protoc.main(["grpc_tools.protoc", *_includes(), *options, *sources])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code} on {', '.join(sources)}")


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Run protoc on every .proto here; return the files written under `out_dir`."""
    out_dir = Path(out_dir)
    (out_dir / "labs" / "protos").mkdir(parents=True, exist_ok=True)
    _protoc(f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}")
    return sorted(p for src in proto_files() for p in (out_dir / "labs" / "protos").glob(f"{src.stem}_pb2*"))


def descriptor_set(path: Path) -> Path:
    """Compile every .proto here, with everything it imports, into one FileDescriptorSet at `path`
    (what Envoy's grpc_json_transcoder reads to map JSON to protobuf). Not committed: the gateway
    builds it when it starts, from the .proto files as they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _protoc("--include_imports", f"--descriptor_set_out={path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write labs/protos/ under")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    main()
