#!/usr/bin/python3
"""grpc's interop cases (grpc/grpc doc/interop-test-descriptions.md), the unary and streaming
ones, run against this repo's real services with a client that is not ours: Debian's
python3-grpcio and python3-protobuf. The mapping of each case to a real method is the same as
the TS suite's (tools/reliability/src/interop.spec.ts, docs/reliability.md).

Message classes come at run time from this repo's FileDescriptorSet (`buf build` of proto/,
the bytes of `descriptorSetBase64` in @grpc-patterns/proto) given with --descriptors, so no
generated Python code is needed (Debian's protoc generates code protobuf 4.x refuses to load).

Prints one JSON object: {"<case>": "ok" | "FAIL: <why>"} in the order run.

Usage:
  /usr/bin/python3 tools/interop/python/interop_client.py --descriptors /tmp/grpc-patterns.binpb \
      --auth 127.0.0.1:50051 --analytics 127.0.0.1:50052 --metrics 127.0.0.1:50053 \
      --chat 127.0.0.1:50054 --orders 127.0.0.1:50055 --token <access token> \
      --user-id <id> --username <name> --special 127.0.0.1:40000
"""
import argparse
import json
import queue
import sys
import time
import uuid

import grpc
from google.protobuf import descriptor_pb2

sys.dont_write_bytecode = True  # no __pycache__ in the repository for the import below
from descriptors import load_pool, message_class  # noqa: E402  (this folder, on sys.path)

LARGE_REQUEST_BYTES = 271_828
LARGE_RESPONSE_BYTES = 314_159
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
PADDING_TAG = bytes([(15 << 3) | 2])  # field 15, bytes: unknown to every message of this repo


class Check(Exception):
    """A case's assertion failed."""


def expect(condition, message):
    if not condition:
        raise Check(message)


def load_messages(path):
    """A message class lookup by full name over the set at `path`, plus google.rpc.Status."""
    # google.rpc.Status (googleapis google/rpc/status.proto) without its `details` (field 3,
    # skipped as unknown): code and message are all custom_metadata reads.
    status = descriptor_pb2.FileDescriptorProto(name="interop/google_rpc_status_subset.proto", package="google.rpc", syntax="proto3")
    message = status.message_type.add(name="Status")
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    message.field.add(name="code", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32, label=optional)
    message.field.add(name="message", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=optional)
    pool = load_pool(path, [status])
    return lambda name: message_class(pool, name)


def varint(n):
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pad(message, size):
    """message + an unknown bytes field, exactly `size` bytes (decoders skip unknown fields)."""
    for fill in range(size - len(message) - 2, -1, -1):
        length = varint(fill)
        if len(message) + 1 + len(length) + fill == size:
            return message + PADDING_TAG + length + b"a" * fill
    raise ValueError("cannot pad")


class Cases:
    def __init__(self, args, message_class):
        self.args = args
        self.m = message_class
        self.channels = {}
        self.auth_md = (("authorization", "Bearer " + args.token),)

    def channel(self, target):
        if target not in self.channels:
            self.channels[target] = grpc.insecure_channel(target)
        return self.channels[target]

    def method(self, kind, target, path, request, response):
        factory = getattr(self.channel(target), kind)
        serializer = (lambda raw: raw) if request is None else self.m(request).SerializeToString
        deserializer = (lambda raw: raw) if response is None else self.m(response).FromString
        return factory(path, request_serializer=serializer, response_deserializer=deserializer)

    def chat(self, timeout=None):
        """A bidi chat call fed from a queue: (send(request|None), responses)."""
        requests = queue.Queue()

        def feed():
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        call = self.method("stream_stream", self.args.chat, "/chat.v1.ChatService/Chat", "chat.v1.ChatRequest", "chat.v1.ChatResponse")
        responses = call(feed(), metadata=self.auth_md, timeout=timeout)
        return requests.put, responses

    def join(self, room, user):
        request = self.m("chat.v1.ChatRequest")()
        request.join.room = room
        request.join.user = user
        return request

    def send(self, text):
        request = self.m("chat.v1.ChatRequest")()
        request.send.text = text
        return request

    # --- the cases -------------------------------------------------------------------------

    def empty_unary(self):
        call = self.method("unary_unary", self.args.auth, "/auth.v1.AuthService/GetPublicKeys", "auth.v1.GetPublicKeysRequest", "auth.v1.GetPublicKeysResponse")
        request = self.m("auth.v1.GetPublicKeysRequest")()
        expect(request.SerializeToString() == b"", "request not empty")
        expect(len(call(request, timeout=10).keys) > 0, "no keys")

    def large_unary(self):
        request = pad(self.m("auth.v1.GetUserRequest")(user_id=self.args.user_id).SerializeToString(), LARGE_REQUEST_BYTES)
        expect(len(request) == LARGE_REQUEST_BYTES, "padding")
        call = self.method("unary_unary", self.args.auth, "/auth.v1.AuthService/GetUser", None, "auth.v1.GetUserResponse")
        expect(call(request, metadata=self.auth_md, timeout=30).user.username == self.args.username, "wrong user")
        flights = self.method("unary_stream", self.args.analytics, "/analytics.v1.AnalyticsService/StreamFlights", "analytics.v1.StreamFlightsRequest", None)
        stream = flights(self.m("analytics.v1.StreamFlightsRequest")(chunk_size=3000, limit=3000), metadata=self.auth_md, timeout=60)
        first = next(iter(stream))
        stream.cancel()
        expect(len(first) >= LARGE_RESPONSE_BYTES, "chunk is %d bytes" % len(first))

    def client_streaming(self):
        point = self.m("metrics.v1.UploadMetricsRequest")
        call = self.method("stream_unary", self.args.metrics, "/metrics.v1.MetricsService/UploadMetrics", "metrics.v1.UploadMetricsRequest", "metrics.v1.UploadMetricsResponse")
        points = []
        for value in (27182, 8, 1828, 45904):
            p = point(name="interop_python_bytes", value=value)
            p.time.GetCurrentTime()
            points.append(p)
        response = call(iter(points), metadata=self.auth_md, timeout=30)
        expect((response.received_count, response.accepted_count) == (4, 4), "counts %s" % response)
        series = [(s.name, s.count, s.min, s.max) for s in response.series]
        expect(series == [("interop_python_bytes", 4, 8.0, 45904.0)], "series %s" % series)

    def server_streaming(self):
        call = self.method("unary_stream", self.args.analytics, "/analytics.v1.AnalyticsService/StreamFlights", "analytics.v1.StreamFlightsRequest", "analytics.v1.StreamFlightsResponse")
        chunks = list(call(self.m("analytics.v1.StreamFlightsRequest")(origin="SFO", chunk_size=3, limit=12), metadata=self.auth_md, timeout=60))
        expect([len(c.flights) for c in chunks] == [3, 3, 3, 3], "chunk sizes")
        expect(all(f.origin == "SFO" for c in chunks for f in c.flights), "origin")

    def ping_pong(self):
        put, responses = self.chat(timeout=30)
        put(self.join("py-pingpong-%d" % time.time_ns(), self.args.user_id))
        expect(next(responses).WhichOneof("event") == "presence", "join not answered with presence")
        for text in ("27182", "8", "1828", "45904"):
            put(self.send(text))
            answer = next(responses)
            expect(answer.WhichOneof("event") == "message" and answer.message.text == text and answer.message.user == self.args.user_id, "echo %s" % answer)
        put(None)
        expect(list(responses) == [], "responses after half-close")

    def empty_stream(self):
        call = self.method("stream_unary", self.args.metrics, "/metrics.v1.MetricsService/UploadMetrics", "metrics.v1.UploadMetricsRequest", "metrics.v1.UploadMetricsResponse")
        response = call(iter(()), metadata=self.auth_md, timeout=30)
        expect(response.received_count == 0 and len(response.series) == 0, "not empty")
        put, responses = self.chat(timeout=30)
        put(None)
        try:
            list(responses)
            raise Check("chat without a join ended OK")
        except grpc.RpcError as error:
            expect(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "chat: %s" % error.code())

    def custom_metadata(self):
        call = self.method("unary_unary", self.args.auth, "/auth.v1.AuthService/GetUser", "auth.v1.GetUserRequest", "auth.v1.GetUserResponse")
        metadata = self.auth_md + (("x-request-id", "interop-python-1"), ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"))
        _, ok = call.with_call(self.m("auth.v1.GetUserRequest")(user_id=self.args.user_id), metadata=metadata, timeout=10)
        expect(("x-request-id", "interop-python-1") in tuple(ok.initial_metadata()), "x-request-id not echoed")
        try:
            call(self.m("auth.v1.GetUserRequest")(user_id=""), metadata=metadata, timeout=10)
            raise Check("empty user_id accepted")
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata())
            status = self.m("google.rpc.Status").FromString(trailers["grpc-status-details-bin"])
            expect((status.code, status.message) == (error.code().value[0], error.details()), "status details")

    def status_code_and_message(self):
        order_id = str(uuid.uuid4())
        call = self.method("unary_unary", self.args.orders, "/orders.v1.OrderService/GetOrder", "orders.v1.GetOrderRequest", "orders.v1.GetOrderResponse")
        try:
            call(self.m("orders.v1.GetOrderRequest")(order_id=order_id), metadata=self.auth_md, timeout=10)
            raise Check("unknown order found")
        except grpc.RpcError as error:
            got = (error.code(), error.details())
            expect(got == (grpc.StatusCode.NOT_FOUND, "order %s not found" % order_id), "got %s" % (got,))

    def special_status_message(self):
        expect(self.args.special, "--special not given")
        call = self.method("unary_unary", self.args.special, "/auth.v1.AuthService/GetUser", "auth.v1.GetUserRequest", "auth.v1.GetUserResponse")
        try:
            call(self.m("auth.v1.GetUserRequest")(), timeout=10)
            raise Check("call succeeded")
        except grpc.RpcError as error:
            got = (error.code(), error.details())
            expect(got == (grpc.StatusCode.UNKNOWN, SPECIAL_STATUS_MESSAGE), "got %r" % (got,))

    def unimplemented_method(self):
        call = self.method("unary_unary", self.args.orders, "/orders.v1.OrderService/UnimplementedCall", None, None)
        self.expect_code(lambda: call(b"", metadata=self.auth_md, timeout=10), grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        call = self.method("unary_unary", self.args.orders, "/grpc.testing.UnimplementedService/UnimplementedCall", None, None)
        self.expect_code(lambda: call(b"", timeout=10), grpc.StatusCode.UNIMPLEMENTED)

    def cancel_after_begin(self):
        never = queue.Queue()

        def blocked():
            never.get()
            yield from ()

        call = self.method("stream_unary", self.args.metrics, "/metrics.v1.MetricsService/UploadMetrics", "metrics.v1.UploadMetricsRequest", "metrics.v1.UploadMetricsResponse")
        future = call.future(blocked(), metadata=self.auth_md, timeout=30)
        future.cancel()
        never.put(None)
        expect(future.cancelled() and future.code() == grpc.StatusCode.CANCELLED, "not cancelled: %s" % future.code())

    def cancel_after_first_response(self):
        put, responses = self.chat(timeout=30)
        put(self.join("py-cancel-%d" % time.time_ns(), self.args.user_id))
        next(responses)
        responses.cancel()
        put(None)
        expect(responses.code() == grpc.StatusCode.CANCELLED, "code %s" % responses.code())

    def timeout_on_sleeping_server(self):
        put, responses = self.chat(timeout=0.001)
        put(self.join("py-sleep-%d" % time.time_ns(), self.args.user_id))
        self.expect_code(lambda: list(responses), grpc.StatusCode.DEADLINE_EXCEEDED)
        put(None)

    @staticmethod
    def expect_code(action, code):
        try:
            action()
            raise Check("call succeeded")
        except grpc.RpcError as error:
            expect(error.code() == code, "code %s, want %s" % (error.code(), code))


CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
    "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
    "unimplemented_service", "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptors", required=True, help="FileDescriptorSet of proto/")
    for service in ("auth", "analytics", "metrics", "chat", "orders"):
        parser.add_argument("--" + service, required=True, help="host:port of " + service)
    parser.add_argument("--special", help="host:port of a server answering GetUser with the special status message (needed by special_status_message only)")
    parser.add_argument("--token", required=True, help="access token (authorization: Bearer)")
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--case", action="append", choices=CASES, help="run only these (repeatable); default all")
    args = parser.parse_args()

    cases = Cases(args, load_messages(args.descriptors))
    results = {}
    for name in args.case or CASES:
        try:
            getattr(cases, name)()
            results[name] = "ok"
        except Check as failure:
            results[name] = "FAIL: %s" % failure
        except grpc.RpcError as error:
            results[name] = "FAIL: %s %s" % (error.code(), error.details())
        except Exception as error:  # noqa: BLE001 - report, do not stop the other cases
            results[name] = "FAIL: %s: %s" % (type(error).__name__, error)
    for channel in cases.channels.values():
        channel.close()
    json.dump(results, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
