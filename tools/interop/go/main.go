// Command go-peer is a grpc-go peer for this repo's services, built from Debian's Go packages
// (grpc-go 1.33, etcd 3.4 clientv3, protobuf-go 1.28) with typed stubs generated from proto/
// (build.sh). Each subcommand prints one JSON document on stdout:
//
//	interop      grpc's interop cases against the five services (as tools/interop/python)
//	rich-errors  google.rpc.BadRequest and RetryInfo read with status.Details()
//	etcd-resolve dial etcd:///<service> through etcd's own grpc-go resolver, round_robin
//	serve        a Go server (chat, GetPublicKeys, health) with keepalive enforcement
//	             MinTime 5 min, optionally registered with etcd's endpoints.Manager
//
// Run `go-peer <subcommand> -h` for the flags.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc/grpclog"
)

// grpcLogFromEnv applies GRPC_GO_LOG_SEVERITY_LEVEL and GRPC_GO_LOG_VERBOSITY_LEVEL again:
// importing etcd's clientv3 replaces grpc-go's logger with one that discards everything
// (clientv3/logger.go, etcd 3.4), so grpc-go's own reading of them at init is lost.
func grpcLogFromEnv() {
	verbosity, _ := strconv.Atoi(os.Getenv("GRPC_GO_LOG_VERBOSITY_LEVEL"))
	var info, warning io.Writer = ioutil.Discard, ioutil.Discard
	switch strings.ToLower(os.Getenv("GRPC_GO_LOG_SEVERITY_LEVEL")) {
	case "info":
		info, warning = os.Stderr, os.Stderr
	case "warning":
		warning = os.Stderr
	}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2WithVerbosity(info, warning, os.Stderr, verbosity))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-peer interop|rich-errors|etcd-resolve|serve [flags]")
		os.Exit(2)
	}
	grpcLogFromEnv()
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "interop":
		err = runInterop(args)
	case "rich-errors":
		err = runRichErrors(args)
	case "etcd-resolve":
		err = runEtcdResolve(args)
	case "serve":
		err = runServe(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-peer:", err)
		os.Exit(1)
	}
}

// printJSON writes v as one line of JSON on stdout.
func printJSON(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
}
