"""Typed Python stubs (`*_pb2.py`, `*_pb2_grpc.py`) for this repo's protos, generated at run time
from its FileDescriptorSet (`buf build` of proto/, the bytes of `descriptorSetBase64` in
@grpc-patterns/proto), the way a Python team would generate them:

- messages with Debian's protoc (protobuf-compiler 3.21, the same release as python3-protobuf
  4.21, so the generated code loads; grpc_tools' bundled protoc 3.5.1 writes code protobuf 4.x
  refuses, see descriptors.py);
- service stubs with grpc_tools' gRPC plugin (python3-grpc-tools 1.14). Its protoc cannot parse
  proto3 `optional` (analytics.v1), so it reads the compiled set (--descriptor_set_in) instead
  of the .proto files; the service stubs only need method names and message type names.
"""
import os
import subprocess
import sys

from grpc_tools import protoc as grpc_tools_protoc


def generate(descriptor_set, out_dir, files):
    """Writes the stubs of `files` ("auth/v1/auth.proto", as named in the set) into `out_dir`
    and puts `out_dir` first on sys.path. Raises RuntimeError with protoc's message on failure."""
    os.makedirs(out_dir, exist_ok=True)
    messages = subprocess.run(
        ["protoc", f"--descriptor_set_in={descriptor_set}", f"--python_out={out_dir}", *files],
        capture_output=True, text=True,
    )
    if messages.returncode != 0:
        raise RuntimeError(f"protoc --python_out failed: {messages.stderr.strip()}")
    # grpc_tools.protoc.main, not `python3 -m grpc_tools.protoc`: the module's __main__ adds an
    # -I for its bundled protos, which protoc refuses next to --descriptor_set_in.
    if grpc_tools_protoc.main(["protoc", f"--descriptor_set_in={descriptor_set}", f"--grpc_python_out={out_dir}", *files]) != 0:
        raise RuntimeError("grpc_tools.protoc --grpc_python_out failed (its message is above)")
    sys.path.insert(0, out_dir)
