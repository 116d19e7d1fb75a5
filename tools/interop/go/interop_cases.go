package main

// The interop cases, one method each, against this repo's services (the mapping to methods is in
// docs/reliability.md); a failed expectation panics with a check, which run() reports.

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "grpcpatterns/gen/analyticsv1"
	authv1 "grpcpatterns/gen/authv1"
	metricsv1 "grpcpatterns/gen/metricsv1"
	ordersv1 "grpcpatterns/gen/ordersv1"
)

const (
	largeRequestBytes     = 271828
	largeResponseBytes    = 314159
	specialStatusMessage  = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
	chatNoJoinDescription = "join: the first request must be a join"
)

func (c *interop) emptyUnary() {
	ctx, cancel := c.ctx(10 * time.Second)
	defer cancel()
	request := &authv1.GetPublicKeysRequest{}
	expect(proto.Size(request) == 0, "request not empty")
	response, err := c.auth.GetPublicKeys(ctx, request)
	must(err, "GetPublicKeys")
	expect(len(response.Keys) > 0, "no keys")
}

func (c *interop) largeUnary() {
	ctx, cancel := c.ctx(60 * time.Second)
	defer cancel()
	request := &authv1.GetUserRequest{UserId: c.userID}
	pad(request, largeRequestBytes)
	expect(proto.Size(request) == largeRequestBytes, "request is %d bytes", proto.Size(request))
	response, err := c.auth.GetUser(ctx, request)
	must(err, "GetUser")
	expect(response.GetUser().GetUsername() == c.username, "wrong user %q", response.GetUser().GetUsername())
	// No unary method answers 300 KB; the flights stream does, in one message per chunk.
	stream, err := c.analytics.StreamFlights(ctx, &analyticsv1.StreamFlightsRequest{ChunkSize: 3000, Limit: 3000})
	must(err, "StreamFlights")
	first, err := stream.Recv()
	must(err, "StreamFlights.Recv")
	expect(proto.Size(first) >= largeResponseBytes, "chunk is %d bytes", proto.Size(first))
}

func (c *interop) clientStreaming() {
	ctx, cancel := c.ctx(30 * time.Second)
	defer cancel()
	stream, err := c.metrics.UploadMetrics(ctx)
	must(err, "UploadMetrics")
	for _, v := range []float64{27182, 8, 1828, 45904} {
		must(stream.Send(&metricsv1.UploadMetricsRequest{Name: "interop_go_bytes", Value: v, Time: timestamppb.Now()}), "Send")
	}
	response, err := stream.CloseAndRecv()
	must(err, "CloseAndRecv")
	expect(response.ReceivedCount == 4 && response.AcceptedCount == 4, "counts %d/%d", response.ReceivedCount, response.AcceptedCount)
	expect(len(response.Series) == 1, "%d series", len(response.Series))
	s := response.Series[0]
	expect(s.Name == "interop_go_bytes" && s.Count == 4 && s.Min == 8 && s.Max == 45904, "series %v", s)
}

func (c *interop) serverStreaming() {
	ctx, cancel := c.ctx(60 * time.Second)
	defer cancel()
	stream, err := c.analytics.StreamFlights(ctx, &analyticsv1.StreamFlightsRequest{Origin: "SFO", ChunkSize: 3, Limit: 12})
	must(err, "StreamFlights")
	var sizes []int
	var scanned []uint64
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		must(err, "Recv")
		sizes = append(sizes, len(chunk.Flights))
		scanned = append(scanned, chunk.RowsScanned)
		for _, f := range chunk.Flights {
			expect(f.Origin == "SFO", "origin %q", f.Origin)
		}
	}
	expect(fmt.Sprint(sizes) == "[3 3 3 3]", "chunk sizes %v", sizes)
	expect(sort.SliceIsSorted(scanned, func(i, j int) bool { return scanned[i] < scanned[j] }), "rows_scanned not ascending: %v", scanned)
}

func (c *interop) pingPong() {
	ctx, cancel := c.ctx(30 * time.Second)
	defer cancel()
	stream, err := c.chat.Chat(ctx)
	must(err, "Chat")
	must(stream.Send(join(fmt.Sprintf("go-pingpong-%d", time.Now().UnixNano()), c.userID)), "Send join")
	joined, err := stream.Recv()
	must(err, "Recv")
	expect(joined.GetPresence() != nil, "join not answered with presence: %v", joined)
	for _, text := range []string{"27182", "8", "1828", "45904"} {
		must(stream.Send(send(text)), "Send")
		echo, err := stream.Recv()
		must(err, "Recv")
		expect(echo.GetMessage().GetText() == text && echo.GetMessage().GetUser() == c.userID, "echo %v", echo)
	}
	must(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	expect(err == io.EOF, "after half-close: %v", err)
}

func (c *interop) emptyStream() {
	ctx, cancel := c.ctx(30 * time.Second)
	defer cancel()
	upload, err := c.metrics.UploadMetrics(ctx)
	must(err, "UploadMetrics")
	response, err := upload.CloseAndRecv()
	must(err, "CloseAndRecv")
	expect(response.ReceivedCount == 0 && len(response.Series) == 0, "not empty: %v", response)
	// Chat's protocol starts with a JoinRoom, so its empty stream is not OK (by design).
	stream, err := c.chat.Chat(ctx)
	must(err, "Chat")
	must(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	st := status.Convert(err)
	expect(st.Code() == codes.InvalidArgument && st.Message() == chatNoJoinDescription, "chat without a join: %v %q", st.Code(), st.Message())
}

func (c *interop) customMetadata() {
	ctx, cancel := c.ctx(10*time.Second, "x-request-id", "interop-go-1", "x-grpc-test-echo-trailing-bin", "\xab\xab\xab")
	defer cancel()
	var header, trailer metadata.MD
	_, err := c.auth.GetUser(ctx, &authv1.GetUserRequest{UserId: c.userID}, grpc.Header(&header))
	must(err, "GetUser")
	expect(fmt.Sprint(header.Get("x-request-id")) == "[interop-go-1]", "x-request-id not echoed: %v", header.Get("x-request-id"))
	// Trailing binary metadata: grpc-status-details-bin, which grpc-go decodes into the status.
	_, err = c.auth.GetUser(ctx, &authv1.GetUserRequest{UserId: ""}, grpc.Trailer(&trailer))
	st := status.Convert(err)
	expect(st.Code() == codes.InvalidArgument, "empty user_id: %v", st.Code())
	p := st.Proto()
	expect(codes.Code(p.Code) == st.Code() && p.Message == st.Message() && len(p.Details) > 0, "google.rpc.Status %v", p)
	var violations []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				violations = append(violations, v.Field)
			}
		}
	}
	expect(fmt.Sprint(violations) == "[user_id]", "BadRequest field violations %v", violations)
	expect(fmt.Sprint(trailer.Get("x-request-id")) == "[interop-go-1]", "x-request-id not in the trailers: %v", trailer)
}

func (c *interop) statusCodeAndMessage() {
	ctx, cancel := c.ctx(10 * time.Second)
	defer cancel()
	id := uuid4()
	_, err := c.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: id})
	st := status.Convert(err)
	expect(st.Code() == codes.NotFound && st.Message() == fmt.Sprintf("order %s not found", id), "got %v %q", st.Code(), st.Message())
}

func (c *interop) specialStatusMessage() {
	expect(c.special != nil, "--special not given")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.special.GetUser(ctx, &authv1.GetUserRequest{})
	st := status.Convert(err)
	expect(st.Code() == codes.Unknown && st.Message() == specialStatusMessage, "got %v %q", st.Code(), st.Message())
}

func (c *interop) unimplemented(method string) {
	ctx, cancel := c.ctx(10 * time.Second)
	defer cancel()
	err := c.ordersConn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
	expect(status.Code(err) == codes.Unimplemented, "%s: %v", method, status.Code(err))
}

func (c *interop) cancelAfterBegin() {
	ctx, cancel := c.ctx(30 * time.Second)
	ctx, cancelNow := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.metrics.UploadMetrics(ctx)
	must(err, "UploadMetrics")
	cancelNow()
	_, err = stream.CloseAndRecv()
	expect(status.Code(err) == codes.Canceled, "code %v", status.Code(err))
}

func (c *interop) cancelAfterFirstResponse() {
	ctx, cancel := c.ctx(30 * time.Second)
	ctx, cancelNow := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.chat.Chat(ctx)
	must(err, "Chat")
	must(stream.Send(join(fmt.Sprintf("go-cancel-%d", time.Now().UnixNano()), c.userID)), "Send join")
	_, err = stream.Recv()
	must(err, "Recv")
	cancelNow()
	_, err = stream.Recv()
	expect(status.Code(err) == codes.Canceled, "code %v", status.Code(err))
}

func (c *interop) timeoutOnSleepingServer() {
	ctx, cancel := c.ctx(time.Millisecond)
	defer cancel()
	stream, err := c.chat.Chat(ctx)
	if err == nil {
		_ = stream.Send(join(fmt.Sprintf("go-sleep-%d", time.Now().UnixNano()), c.userID)) // io.EOF once the deadline passed
		_, err = stream.Recv()
	}
	expect(status.Code(err) == codes.DeadlineExceeded, "code %v", status.Code(err))
}
