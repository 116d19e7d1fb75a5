package main

// grpc's interop cases (grpc/grpc doc/interop-test-descriptions.md) against the real services,
// mapped to methods exactly as tools/interop/python/interop_client.py and
// tools/reliability/src/interop.spec.ts map them (docs/reliability.md has the table). This file
// runs them: flags, one connection per service, the case table, expect/must; the cases are in
// interop_cases.go, their request builders in interop_messages.go.

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	analyticsv1 "grpcpatterns/gen/analyticsv1"
	authv1 "grpcpatterns/gen/authv1"
	chatv1 "grpcpatterns/gen/chatv1"
	metricsv1 "grpcpatterns/gen/metricsv1"
	ordersv1 "grpcpatterns/gen/ordersv1"
)

var interopCases = []string{
	"empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
	"custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
	"unimplemented_service", "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
}

type interop struct {
	token, userID, username string
	auth                    authv1.AuthServiceClient
	analytics               analyticsv1.AnalyticsServiceClient
	metrics                 metricsv1.MetricsServiceClient
	chat                    chatv1.ChatServiceClient
	orders                  ordersv1.OrderServiceClient
	ordersConn              *grpc.ClientConn
	special                 authv1.AuthServiceClient
}

type check string

func (c check) Error() string { return string(c) }

func expect(ok bool, format string, args ...interface{}) {
	if !ok {
		panic(check(fmt.Sprintf(format, args...)))
	}
}

// must turns an unexpected RPC error into the case's failure.
func must(err error, what string) {
	if err != nil {
		panic(check(fmt.Sprintf("%s: %s %q", what, status.Code(err), status.Convert(err).Message())))
	}
}

func (c *interop) ctx(timeout time.Duration, kv ...string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return metadata.AppendToOutgoingContext(ctx, append([]string{"authorization", "Bearer " + c.token}, kv...)...), cancel
}

func (c *interop) run(name string) (result string) {
	defer func() {
		if r := recover(); r != nil {
			if failure, ok := r.(check); ok {
				result = "FAIL: " + string(failure)
				return
			}
			result = fmt.Sprintf("FAIL: panic: %v", r)
		}
	}()
	switch name {
	case "empty_unary":
		c.emptyUnary()
	case "large_unary":
		c.largeUnary()
	case "client_streaming":
		c.clientStreaming()
	case "server_streaming":
		c.serverStreaming()
	case "ping_pong":
		c.pingPong()
	case "empty_stream":
		c.emptyStream()
	case "custom_metadata":
		c.customMetadata()
	case "status_code_and_message":
		c.statusCodeAndMessage()
	case "special_status_message":
		c.specialStatusMessage()
	case "unimplemented_method":
		c.unimplemented("/orders.v1.OrderService/UnimplementedCall")
	case "unimplemented_service":
		c.unimplemented("/grpc.testing.UnimplementedService/UnimplementedCall")
	case "cancel_after_begin":
		c.cancelAfterBegin()
	case "cancel_after_first_response":
		c.cancelAfterFirstResponse()
	case "timeout_on_sleeping_server":
		c.timeoutOnSleepingServer()
	default:
		return "FAIL: unknown case"
	}
	return "ok"
}

func dial(target string) *grpc.ClientConn {
	conn, err := grpc.Dial(target, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		panic(err) // Dial without WithBlock fails only on a malformed target
	}
	return conn
}

func runInterop(args []string) error {
	fs := flag.NewFlagSet("interop", flag.ExitOnError)
	targets := map[string]*string{}
	for _, s := range []string{"auth", "analytics", "metrics", "chat", "orders"} {
		targets[s] = fs.String(s, "", "host:port of "+s)
	}
	special := fs.String("special", "", "host:port of a server answering GetUser with the special status message")
	token := fs.String("token", "", "access token (authorization: Bearer)")
	userID := fs.String("user-id", "", "id of the token's user")
	username := fs.String("username", "", "username of the token's user")
	only := fs.String("case", "", "comma-separated cases to run; default all")
	_ = fs.Parse(args)
	for name, t := range targets {
		if *t == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	c := &interop{token: *token, userID: *userID, username: *username}
	var conns []*grpc.ClientConn
	conn := func(target string) *grpc.ClientConn {
		cc := dial(target)
		conns = append(conns, cc)
		return cc
	}
	c.auth = authv1.NewAuthServiceClient(conn(*targets["auth"]))
	c.analytics = analyticsv1.NewAnalyticsServiceClient(conn(*targets["analytics"]))
	c.metrics = metricsv1.NewMetricsServiceClient(conn(*targets["metrics"]))
	c.chat = chatv1.NewChatServiceClient(conn(*targets["chat"]))
	c.ordersConn = conn(*targets["orders"])
	c.orders = ordersv1.NewOrderServiceClient(c.ordersConn)
	if *special != "" {
		c.special = authv1.NewAuthServiceClient(conn(*special))
	}
	defer func() {
		for _, cc := range conns {
			cc.Close()
		}
	}()
	cases := interopCases
	if *only != "" {
		cases = strings.Split(*only, ",")
	}
	results := map[string]string{}
	for _, name := range cases {
		results[name] = c.run(name)
	}
	printJSON(results)
	return nil
}
