#!/usr/bin/env bash
# Starts a Docker Engine with host networking only, unless one already answers (idempotent:
# CI runs on the same machine again and again, and keeps the daemon, its images and its build
# cache between runs). Test scaffolding for tools/deploy's *.docker.spec.ts.
#
# --iptables=false --bridge=none --ip-forward=false --ip-masq=false: no docker0 bridge, no NAT,
# no firewall rules; containers run with `--network host` and talk over 127.0.0.1 (these
# machines allow no traffic to private-range addresses). Log: $DOCKERD_LOG.
#
# Exit 0 when `docker info` answers within $DOCKERD_WAIT_S seconds, 1 otherwise (last log lines
# on stderr).
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/grpc-patterns-dockerd.log}"
DOCKERD_WAIT_S="${DOCKERD_WAIT_S:-60}"

if docker info >/dev/null 2>&1; then
  echo "== Docker Engine $(docker info --format '{{.ServerVersion}}') already answering"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "docker-engine: dockerd not found (apt-get install docker.io)" >&2
  exit 1
fi

echo "== starting dockerd (host networking only), log: $DOCKERD_LOG"
# setsid + nohup: the daemon outlives this script and the CI step that ran it.
setsid nohup dockerd --iptables=false --bridge=none --ip-forward=false --ip-masq=false \
  >>"$DOCKERD_LOG" 2>&1 </dev/null &

for _ in $(seq "$DOCKERD_WAIT_S"); do
  if docker info >/dev/null 2>&1; then
    echo "== Docker Engine $(docker info --format '{{.ServerVersion}}') answering (storage driver $(docker info --format '{{.Driver}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within ${DOCKERD_WAIT_S}s; last lines of $DOCKERD_LOG:" >&2
tail -n 20 "$DOCKERD_LOG" >&2 || true
exit 1
