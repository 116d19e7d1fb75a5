#!/usr/bin/env bash
# A local stand-in for the official `node:20-bookworm-slim` image, for machines where no image
# registry is reachable (`docker pull` fails): Debian bookworm (debootstrap minbase) with this
# machine's `node` and `npm`, the `node` user and group 1000:1000 and the working directory
# conventions of the official image. Test scaffolding only: the Dockerfile keeps naming the
# official image, and this script does nothing when an image of that name already exists
# (pulled or built by an earlier run), so CI builds it once per machine.
#
# npm inside the build reaches the registry through this machine's TLS interception, so the
# machine's CA bundle goes into the rootfs, npm's global config (`/usr/local/etc/npmrc`, read
# for prefix /usr/local) names it, and NODE_EXTRA_CA_CERTS is set in the image.
set -euo pipefail

IMAGE="${STANDIN_IMAGE:-node:20-bookworm-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "== $IMAGE present ($(docker image inspect "$IMAGE" --format '{{.Id}}' | cut -c1-19)): not rebuilt"
  exit 0
fi
for tool in debootstrap docker node npm; do
  command -v "$tool" >/dev/null || { echo "standin-base: $tool not found" >&2; exit 1; }
done

start=$(date +%s)
rootfs="$(mktemp -d /tmp/node-standin-XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "== debootstrap --variant=minbase bookworm -> $rootfs"
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
  tail -n 20 "$rootfs.log" >&2
  exit 1
}
rm -f "$rootfs.log"

node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
echo "== node $("$node_bin" --version) from $node_bin, npm $(npm --version) from $npm_dir"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# The official image's user: node (uid 1000) in group node (gid 1000), home /home/node.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/etc"
cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$rootfs/usr/local/etc/npmrc"

# Slim as debian:bookworm-slim is: no downloaded .debs, apt lists, docs, man/info pages or
# translations (the official image excludes the last four through dpkg's path-exclude).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$("$node_bin" --version | tr -d v)" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  --message "stand-in for $IMAGE (tools/deploy/scripts/standin-base.sh)" \
  - "$IMAGE" >/dev/null
echo "== $IMAGE imported: $(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}') in $(($(date +%s) - start)) s"
