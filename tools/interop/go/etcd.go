package main

// etcd:///<service> from Go, with etcd's own packages: go.etcd.io/etcd/clientv3/naming/resolver
// (the grpc-go resolver.Builder) and naming/endpoints (the Manager it reads through), as etcd's
// docs (Documentation/dev-guide/grpc_naming.md) show them. Nothing here re-implements the layout.

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/naming/endpoints"
	etcdresolver "go.etcd.io/etcd/clientv3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	authv1 "grpcpatterns/gen/authv1"
)

func runEtcdResolve(args []string) error {
	fs := flag.NewFlagSet("etcd-resolve", flag.ExitOnError)
	etcdURL := fs.String("etcd", "", "etcd client URL")
	service := fs.String("service", "", "dial etcd:///<service>")
	calls := fs.Int("calls", 300, "GetPublicKeys calls counted once every replica answered")
	want := fs.Int("expect", 1, "distinct replicas (kid) to wait for before counting")
	concurrency := fs.Int("concurrency", 4, "calls in flight")
	_ = fs.Parse(args)
	if *etcdURL == "" || *service == "" {
		return fmt.Errorf("--etcd and --service are required")
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{*etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()

	// What etcd's Manager reads from the registry (the same decoding the resolver uses).
	manager, err := endpoints.NewManager(client, *service)
	if err != nil {
		return err
	}
	listCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	listed, err := manager.List(listCtx)
	cancel()
	if err != nil {
		return err
	}
	registry := map[string]map[string]interface{}{}
	for key, e := range listed {
		registry[key] = map[string]interface{}{"Addr": e.Addr, "Metadata": e.Metadata}
	}

	builder, err := etcdresolver.NewBuilder(client)
	if err != nil {
		return err
	}
	conn, err := grpc.Dial("etcd:///"+*service, grpc.WithResolvers(builder), grpc.WithInsecure(),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		return err
	}
	defer conn.Close()
	auth := authv1.NewAuthServiceClient(conn)
	call := func() (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var p peer.Peer
		response, err := auth.GetPublicKeys(ctx, &authv1.GetPublicKeysRequest{}, grpc.WaitForReady(true), grpc.Peer(&p))
		if err != nil {
			return "", "", err
		}
		kid := ""
		if len(response.Keys) > 0 {
			kid = response.Keys[0].Kid
		}
		address := ""
		if p.Addr != nil {
			address = p.Addr.String()
		}
		return kid, address, nil
	}

	// Warm-up: round_robin adds a subchannel to its picker once it is READY, so the first calls
	// may all go to the first replica up. Count only once every expected replica answered.
	seen := map[string]bool{}
	warmup := 0
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < *want {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d replicas answered within 30 s (%d calls): %v", len(seen), *want, warmup, seen)
		}
		kid, _, err := call()
		if err != nil {
			return fmt.Errorf("warm-up call: %v", err)
		}
		seen[kid] = true
		warmup++
	}

	var mu sync.Mutex
	byKid := map[string]int{}
	byPeer := map[string]int{}
	failures := map[string]int{}
	next := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				kid, address, err := call()
				mu.Lock()
				if err != nil {
					failures[err.Error()]++
				} else {
					byKid[kid]++
					byPeer[address]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *calls; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	printJSON(map[string]interface{}{"registry": registry, "warmupCalls": warmup, "byKid": byKid, "byPeer": byPeer, "failures": failures, "grpcVersion": grpc.Version})
	return nil
}
