#!/usr/bin/python3
"""Reads gRPC rich errors (google.rpc.Status in grpc-status-details-bin) with a client that is
not ours: Debian's python3-grpcio and python3-protobuf.

Each --call is METHOD_PATH=HEX: the full method path and the request message, already
serialized (hex), so this script needs none of our generated code. The google.rpc messages
are loaded at run time from a FileDescriptorSet (`buf build --as-file-descriptor-set` of
googleapis' google/rpc/status.proto and error_details.proto) given with --descriptors: Debian's
protoc (grpc_tools, libprotoc 3.5.1) generates code that protobuf 4.x refuses to load, while
the descriptor pool accepts descriptors from any protoc.

Prints one JSON array, an object per call, in order:
  {"method", "code" (status name), "details" (grpc-message),
   "status": {"code", "message"} | null        decoded google.rpc.Status,
   "fieldViolations": [{"field", "description"}] | null   from google.rpc.BadRequest,
   "retryDelayMs": int | null                  from google.rpc.RetryInfo.retry_delay,
   "pushbackMs": int | null                    the grpc-retry-pushback-ms trailer (gRFC A6),
   "otherDetails": [type_url...]}

Usage:
  /usr/bin/python3 tools/interop/python/rich_errors.py --target 127.0.0.1:50051 \
      --descriptors /tmp/google-rpc.binpb --call /auth.v1.AuthService/GetUser=0a00
"""
import argparse
import json
import sys

import grpc

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the import below
from descriptors import load_pool, message_class  # noqa: E402  (this folder, on sys.path)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
PUSHBACK_KEY = "grpc-retry-pushback-ms"
TYPE_PREFIX = "type.googleapis.com/"


def load_messages(path):
    """google.rpc message classes from a FileDescriptorSet (dependencies first, as buf writes it)."""
    pool = load_pool(path)
    return {name: message_class(pool, "google.rpc." + name) for name in ("Status", "BadRequest", "RetryInfo")}


def decode(messages, method, error):
    trailers = dict(error.trailing_metadata() or ())
    result = {
        "method": method,
        "code": error.code().name,
        "details": error.details(),
        "status": None,
        "fieldViolations": None,
        "retryDelayMs": None,
        "pushbackMs": int(trailers[PUSHBACK_KEY]) if PUSHBACK_KEY in trailers else None,
        "otherDetails": [],
    }
    raw = trailers.get(STATUS_DETAILS_KEY)
    if raw is None:
        return result
    status = messages["Status"].FromString(raw)
    result["status"] = {"code": status.code, "message": status.message}
    for any_detail in status.details:
        name = any_detail.type_url[len(TYPE_PREFIX):] if any_detail.type_url.startswith(TYPE_PREFIX) else None
        if name == "google.rpc.BadRequest":
            bad_request = messages["BadRequest"].FromString(any_detail.value)
            result["fieldViolations"] = [{"field": v.field, "description": v.description} for v in bad_request.field_violations]
        elif name == "google.rpc.RetryInfo":
            delay = messages["RetryInfo"].FromString(any_detail.value).retry_delay
            result["retryDelayMs"] = delay.seconds * 1000 + delay.nanos // 1_000_000
        else:
            result["otherDetails"].append(any_detail.type_url)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="host:port")
    parser.add_argument("--descriptors", required=True, help="FileDescriptorSet with google/rpc/status.proto and error_details.proto")
    parser.add_argument("--call", action="append", required=True, help="METHOD_PATH=HEX_REQUEST (repeatable, run in order)")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline per call, s")
    args = parser.parse_args()

    messages = load_messages(args.descriptors)
    results = []
    with grpc.insecure_channel(args.target) as channel:
        for spec in args.call:
            method, _, hex_request = spec.partition("=")
            call = channel.unary_unary(method, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
            try:
                call(bytes.fromhex(hex_request), timeout=args.timeout)
                results.append({"method": method, "code": "OK", "details": "", "status": None, "fieldViolations": None,
                                "retryDelayMs": None, "pushbackMs": None, "otherDetails": []})
            except grpc.RpcError as error:
                results.append(decode(messages, method, error))
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
