#!/usr/bin/env bash
# Builds the Go peer (tools/interop/go) from Debian's Go packages only, in GOPATH mode (no
# module download): golang-go, golang-google-grpc-dev (grpc-go 1.33), golang-google-protobuf-dev,
# golang-google-genproto-dev (errdetails), golang-etcd-server-dev (etcd 3.4 clientv3 and its
# naming packages), protobuf-compiler (protoc).
#
# 1. protoc-gen-go 1.28 (google.golang.org/protobuf) and protoc-gen-go-grpc (grpc-go 1.33) are
#    built from Debian's sources (/usr/share/gocode/src/google.golang.org/{protobuf,grpc}/cmd/).
#    Debian's grpc-go 1.33 is patched onto github.com/golang/protobuf 1.3.5 (which
#    golang-etcd-server-dev pins: the 1.5 package conflicts with it), and that runtime cannot
#    marshal 1.28's messages; codec.go registers the codec that can (docs/discovery.md, "Peers").
# 2. protoc generates typed stubs of proto/ into <out>/src/grpcpatterns/gen/<pkg>v1 (import
#    paths given with M options: proto/ has no go_package, and Go is not its only consumer).
# 3. go vet + go build of this folder against GOPATH=<out>:/usr/share/gocode.
#
# Output: <out>/bin/go-peer, its path printed on stdout (the only stdout line). <out> is
# $GO_PEER_OUT or <repo>/tmp/interop-go (git-ignored). A stamp of the inputs (this script, *.go,
# proto/, the Go and package versions) makes a second run with unchanged inputs return at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${GO_PEER_OUT:-$root/tmp/interop-go}"
gocode=/usr/share/gocode

for tool in go protoc; do
  command -v "$tool" >/dev/null || { echo "go-peer build: $tool not found (apt-get install golang-go protobuf-compiler)" >&2; exit 2; }
done
for dir in google.golang.org/grpc google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/genproto/googleapis/rpc/errdetails go.etcd.io/etcd/clientv3/naming/resolver; do
  [ -d "$gocode/src/$dir" ] || { echo "go-peer build: $gocode/src/$dir not found (apt-get install golang-google-grpc-dev golang-google-protobuf-dev golang-etcd-server-dev)" >&2; exit 2; }
done

export GO111MODULE=off GOPATH="$out:$gocode" GOCACHE="$out/cache" GOFLAGS= CGO_ENABLED=0

stamp="$( {
  go version
  protoc --version
  dpkg-query -W -f '${Package} ${Version}\n' golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-3-dev golang-google-genproto-dev golang-etcd-server-dev 2>/dev/null || true
  cd "$root" && sha256sum tools/interop/go/build.sh tools/interop/go/*.go $(find proto -name '*.proto' | sort)
} | sha256sum | cut -d' ' -f1)"
if [ -x "$out/bin/go-peer" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out/bin/go-peer"
  exit 0
fi

mkdir -p "$out/bin"
go build -o "$out/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go >&2
go build -o "$out/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc >&2

gen="$out/src/grpcpatterns/gen"
rm -rf "$gen"
mkdir -p "$gen"
files=()
mapping=""
while IFS= read -r file; do
  files+=("$file")
  pkg="$(dirname "$file" | tr -d /)"          # auth/v1 -> authv1
  mapping="$mapping,M$file=grpcpatterns/gen/$pkg"
done < <(cd "$root/proto" && find . -name '*.proto' | sed 's|^\./||' | sort)
PATH="$out/bin:$PATH" protoc -I "$root/proto" -I /usr/include \
  --go_out="$out/src" --go_opt="paths=import$mapping" \
  --go-grpc_out="$out/src" --go-grpc_opt="paths=import$mapping" \
  "${files[@]}" >&2

(cd "$here" && go vet . >&2 && go build -o "$out/bin/go-peer" .) 
echo "$stamp" >"$out/stamp"
echo "$out/bin/go-peer"
