# One image for the five services and the CLI. docker-compose.yml (and deploy/k8s) pick the
# service with the command: `node apps/<service>/dist/main.js`.
#
# Stages, in the order the layer cache needs them (docs/deploy.md, "The image"):
#   manifests  package.json + package-lock.json files only, picked out of the context;
#   deps       `npm ci` (everything, dev included) on those manifests alone: cached until a
#              package.json or the lock changes, whatever the sources do;
#   prod-deps  production node_modules of the five services and the CLI only (npm workspaces
#              filter: no tools/*, no test-only packages), slimmed;
#   build      the sources, then the Nx build exactly as `npm run build` does (codegen with buf,
#              then tsc per project), and the runtime files: each shipped workspace's dist/
#              (no source maps, declarations or build info) and package.json;
#   runtime    prod-deps' node_modules + build's files on the official Node image, run as its
#              unprivileged `node` user (numeric, so Kubernetes' runAsNonRoot can verify it).
# Built and run on a real Docker Engine by tools/deploy/src/image.docker.spec.ts (legacy builder:
# no `# syntax=` line, BuildKit's frontend image needs a registry); checked statically by
# tools/deploy/src/dockerfile.spec.ts.

FROM node:20-bookworm-slim AS manifests
COPY . /context
RUN cd /context && mkdir /manifests \
 && find . -path ./node_modules -prune -o \( -name package.json -o -name package-lock.json \) -print \
  | xargs cp --parents -t /manifests

FROM node:20-bookworm-slim AS deps
WORKDIR /repo
# npm ci checks every workspace of package-lock.json against its package.json, tools/* included.
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund

FROM deps AS prod-deps
WORKDIR /prod
COPY --from=manifests /manifests/ ./
# From deps' npm cache (--prefer-offline: no second download). Only the runtime workspaces'
# `dependencies`: the libs they link come along; libs/testing is linked by their
# devDependencies only, so its link goes. vega-datasets keeps the two files analytics reads
# (FLIGHTS_PARQUET, AIRPORTS_CSV defaults); source maps, TypeScript files, build info and the packages'
# own specs go, and so do the declaration-only packages (@types/*, undici-types).
RUN npm ci --omit=dev --prefer-offline --no-audit --no-fund --include-workspace-root=false \
      -w apps/auth -w apps/analytics -w apps/metrics -w apps/chat -w apps/orders -w apps/cli \
 && rm node_modules/@grpc-patterns/testing \
 && for link in node_modules/@grpc-patterns/*; do readlink "$link" | sed 's|^\.\./\.\./||'; done >/prod-workspaces \
 && find node_modules -type f \( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.spec.*' -o -name '*.test.*' -o -name '*.tsbuildinfo' \) -delete \
 && rm -rf node_modules/@types node_modules/undici-types \
 && find node_modules/vega-datasets/data -type f ! -name flights-3m.parquet ! -name airports.csv -delete \
 && find . -path ./node_modules -prune -o \( -name package.json -o -name package-lock.json \) -print | xargs rm \
 && find . -depth -type d -empty -delete

FROM deps AS build
COPY . .
ENV NX_DAEMON=false NX_NO_CLOUD=true
RUN npx nx run-many -t build \
      -p @grpc-patterns/auth @grpc-patterns/analytics @grpc-patterns/metrics @grpc-patterns/chat @grpc-patterns/orders @grpc-patterns/cli
COPY --from=prod-deps /prod-workspaces /prod-workspaces
RUN mkdir /out && cp package.json /out/ \
 && for ws in $(cat /prod-workspaces); do cp --parents -r "$ws/package.json" "$ws/dist" /out/; done \
 && find /out -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.tsbuildinfo' \) -delete

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /prod/ ./
COPY --from=build /out/ ./
# PGlite data of auth and orders: named volumes mounted here start out owned by `node`.
RUN mkdir -p /data/auth /data/orders && chown -R 1000:1000 /data
# The `node` user (uid/gid 1000) of the official Node image.
USER 1000:1000
EXPOSE 50051 50052 50053 50054 50055 9101 9102 9103 9104 9105
# grpc.health.v1 Check of the whole server on the port the service listens on (GRPC_PORT is set
# for every service in docker-compose.yml); compose names the service too (--service).
# --timeout=20s: the check is a whole Node process (the CLI loads ~900 modules); on a 2-core
# machine at load ~20 it took over 5 s and the container flapped to unhealthy (measured).
HEALTHCHECK --interval=10s --timeout=20s --start-period=30s --retries=3 \
  CMD node apps/cli/dist/main.js health --target "127.0.0.1:${GRPC_PORT}" || exit 1
CMD ["node", "apps/cli/dist/main.js", "--help"]
