#!/usr/bin/python3
"""A gRPC server that is not ours, with C-core's default options: Debian's python3-grpcio,
`grpc.server(executor)` and nothing else, so its keepalive enforcement is C-core's default
(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS 5 min, max ping strikes 2, pings
without calls refused). Our clients (createClient() defaults) must interoperate with it:
tools/reliability/src/cc-server.spec.ts and cc-idle-stream.spec.ts, docs/reliability.md.

It serves, with typed stubs generated at start from the repo's FileDescriptorSet (codegen.py):
- auth.v1.AuthService/GetUser: a user with the requested id, username "cc-peer", role "user";
  an empty user_id is INVALID_ARGUMENT. Every other auth method: UNIMPLEMENTED.
- analytics.v1.AnalyticsService/StreamFlights: holds the stream open without sending anything
  (no headers, no data) for --hold-ms, then sends one empty StreamFlightsResponse and ends OK.
  A call cancelled or cut off before is logged to stderr with its age.

Prints one line of JSON, {"port": N}, when it serves on 127.0.0.1:N; stops on SIGTERM/SIGINT.

Usage:
  /usr/bin/python3 tools/interop/python/interop_server.py --descriptors /tmp/grpc-patterns.binpb \
      --hold-ms 170000
"""
import argparse
import datetime
import json
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the import below
from codegen import generate  # noqa: E402  (this folder, on sys.path)

FILES = ["auth/v1/auth.proto", "analytics/v1/analytics.proto"]


def log(message):
    print(f"interop_server: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptors", required=True, help="FileDescriptorSet of proto/")
    parser.add_argument("--hold-ms", type=int, required=True, help="how long StreamFlights stays idle before it ends OK")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 (default): any free one")
    args = parser.parse_args()

    stubs = tempfile.TemporaryDirectory(prefix="interop-server-stubs-")
    generate(args.descriptors, stubs.name, FILES)
    from analytics.v1 import analytics_pb2, analytics_pb2_grpc  # noqa: E402  (generated above)
    from auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402

    class Auth(auth_pb2_grpc.AuthServiceServicer):
        def GetUser(self, request, context):
            if not request.user_id:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "user_id: required")
            user = auth_pb2.User(id=request.user_id, username="cc-peer", display_name="C-core peer", roles=["user"])
            user.create_time.FromDatetime(datetime.datetime.now(datetime.timezone.utc))
            return auth_pb2.GetUserResponse(user=user)

    class Analytics(analytics_pb2_grpc.AnalyticsServiceServicer):
        def StreamFlights(self, request, context):
            started = time.monotonic()
            ended = threading.Event()
            context.add_callback(ended.set)  # runs when the call terminates (cancel, GOAWAY, deadline)
            ended.wait(args.hold_ms / 1000)
            age = time.monotonic() - started
            if ended.is_set() or not context.is_active():
                log(f"StreamFlights ended by the client or the transport after {age:.1f} s idle")
                return
            log(f"StreamFlights held {age:.1f} s idle, ending OK")
            yield analytics_pb2.StreamFlightsResponse()

    # Default options on purpose: no `options=`; only the executor grpc.server() requires.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(Auth(), server)
    analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(Analytics(), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    if port == 0:
        sys.exit(f"interop_server: cannot bind 127.0.0.1:{args.port}")
    server.start()
    print(json.dumps({"port": port}), flush=True)

    def stop(signum, _frame):
        log(f"signal {signum}: stopping")
        server.stop(grace=1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait_for_termination()
    stubs.cleanup()


if __name__ == "__main__":
    main()
