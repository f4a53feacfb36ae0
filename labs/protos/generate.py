"""Regenerate the committed gRPC stubs from the .proto files beside this module.

    python -m labs.protos.generate            # rewrite labs/protos/*_pb2*.py(i) in place
    python -m labs.protos.generate --out DIR  # write them under DIR/labs/protos instead

protoc runs from the repository root with `-I .`, so the generated modules import each other
as `from labs.protos import ticketing_pb2`: absolute imports that work from any working directory.
The stubs are committed (learners need no compiler step); tests/test_protos_fresh.py fails when
they no longer match the .proto files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the repository root: protoc's include path


def proto_files() -> list[Path]:
    return sorted(HERE.glob("*.proto"))


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Run protoc on every .proto here; return the files written under `out_dir`."""
    import grpc_tools
    from grpc_tools import protoc

    out_dir = Path(out_dir)
    (out_dir / "labs" / "protos").mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(p.relative_to(ROOT)) for p in proto_files()]
    code = protoc.main(["grpc_tools.protoc", "-I", str(ROOT), "-I", str(well_known),
                        f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
                        *sources])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code} on {', '.join(sources)}")
    return sorted(p for src in proto_files() for p in (out_dir / "labs" / "protos").glob(f"{src.stem}_pb2*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write labs/protos/ under")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    main()
