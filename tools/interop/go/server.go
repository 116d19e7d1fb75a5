package main

// A Go server for the other direction: grpc-js clients built with createClient() call it.
// It serves a minimal chat.v1.ChatService (one member per stream: join -> presence, each send
// -> the message back, half-close -> OK), auth.v1.AuthService.GetPublicKeys (one key whose kid
// is --id, so a caller can tell which server answered) and grpc.health.v1, with
// keepalive.EnforcementPolicy{MinTime: 5 min, PermitWithoutStream: false}: grpc-go's default
// written out, the policy a Go server in production has unless someone changed it.
// With --etcd it registers itself with etcd's own endpoints.Manager under a lease.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/naming/endpoints"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "grpcpatterns/gen/authv1"
	chatv1 "grpcpatterns/gen/chatv1"
)

// KeepaliveMinTime is grpc-go's default (keepalive.EnforcementPolicy docs: "defaults to 5
// minutes"), set explicitly so the test does not depend on the default staying put.
const KeepaliveMinTime = 5 * time.Minute

type chatServer struct {
	chatv1.UnimplementedChatServiceServer
	id string
}

func (s *chatServer) Chat(stream chatv1.ChatService_ChatServer) error {
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "join: the first request must be a join")
	}
	if err != nil {
		return err
	}
	j := first.GetJoin()
	if j == nil || j.Room == "" || j.User == "" {
		return status.Error(codes.InvalidArgument, "join: the first request must be a join")
	}
	if err := stream.SendHeader(metadata.Pairs("x-served-by", s.id)); err != nil {
		return err
	}
	var sequence uint64
	event := func(r *chatv1.ChatResponse) error {
		sequence++
		r.Room, r.Sequence, r.Time = j.Room, sequence, timestamppb.Now()
		return stream.Send(r)
	}
	if err := event(&chatv1.ChatResponse{Event: &chatv1.ChatResponse_Presence{Presence: &chatv1.Presence{User: j.User, Kind: chatv1.PresenceKind_PRESENCE_KIND_JOINED, Members: []string{j.User}}}}); err != nil {
		return err
	}
	for {
		request, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		text := request.GetSend().GetText()
		if text == "" {
			return status.Error(codes.InvalidArgument, "send.text: must be 1-4096 characters")
		}
		if err := event(&chatv1.ChatResponse{Event: &chatv1.ChatResponse_Message{Message: &chatv1.ChatMessage{User: j.User, Text: text}}}); err != nil {
			return err
		}
	}
}

type authServer struct {
	authv1.UnimplementedAuthServiceServer
	id string
}

func (s *authServer) GetPublicKeys(context.Context, *authv1.GetPublicKeysRequest) (*authv1.GetPublicKeysResponse, error) {
	return &authv1.GetPublicKeysResponse{Keys: []*authv1.Jwk{{Kid: s.id, Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA", Use: "sig"}}, Issuer: "go-peer"}, nil
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	id := fs.String("id", "go-peer", "server id: the kid of GetPublicKeys, x-served-by of chat")
	etcdURL := fs.String("etcd", "", "etcd client URL; register with endpoints.Manager when set")
	service := fs.String("service", "", "etcd target (key prefix <service>/)")
	md := fs.String("metadata", "", `endpoint Metadata string, form-urlencoded ("version=v2")`)
	ttl := fs.Int64("ttl", 10, "etcd lease TTL, s")
	_ = fs.Parse(args)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	server := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: false}))
	chatv1.RegisterChatServiceServer(server, &chatServer{id: *id})
	authv1.RegisterAuthServiceServer(server, &authServer{id: *id})
	healthpb.RegisterHealthServer(server, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	addr := listener.Addr().String()

	var key string
	var client *clientv3.Client
	var manager endpoints.Manager
	if *etcdURL != "" {
		if *service == "" {
			return fmt.Errorf("--service is required with --etcd")
		}
		client, err = clientv3.New(clientv3.Config{Endpoints: []string{*etcdURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			return err
		}
		defer client.Close()
		manager, err = endpoints.NewManager(client, *service)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lease, err := client.Grant(ctx, *ttl)
		cancel()
		if err != nil {
			return err
		}
		alive, err := client.KeepAlive(context.Background(), lease.ID)
		if err != nil {
			return err
		}
		go func() {
			for range alive {
			}
		}()
		key = *service + "/" + addr
		var metadataValue interface{} // nil (JSON null) when empty, as grpc-go examples write it
		if *md != "" {
			metadataValue = *md
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		err = manager.AddEndpoint(ctx, key, endpoints.Endpoint{Addr: addr, Metadata: metadataValue}, clientv3.WithLease(lease.ID))
		cancel()
		if err != nil {
			return err
		}
	}
	printJSON(map[string]string{"address": addr, "key": key, "grpcVersion": grpc.Version})

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-signals:
	case err := <-served:
		return err
	}
	if manager != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = manager.DeleteEndpoint(ctx, key)
		cancel()
	}
	stopped := make(chan struct{})
	go func() { server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		server.Stop()
	}
	return nil
}
