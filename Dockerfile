# syntax=docker/dockerfile:1
# One image for the five services and the CLI. docker-compose.yml (and deploy/k8s) pick the
# service with the command: `node apps/<service>/dist/main.js`.
#
# Stage 1 builds with Nx exactly as `npm run build` does (codegen with buf, then tsc per
# project); stage 2 keeps the built apps and libs plus production node_modules and runs as the
# unprivileged `node` user of the official image (numeric, so Kubernetes' runAsNonRoot can
# verify it). Checked by tools/deploy/src/dockerfile.spec.ts (no Docker engine runs the build
# in CI): every COPY source exists, the build names real Nx projects, USER is not root, and the
# HEALTHCHECK is a real CLI command.

FROM node:20-bookworm-slim AS build
WORKDIR /repo
# The whole workspace (minus what .dockerignore leaves out): npm ci checks every workspace of
# package-lock.json against its package.json, tools/* included.
COPY . .
RUN npm ci --no-audit --no-fund
ENV NX_DAEMON=false NX_NO_CLOUD=true
RUN npx nx run-many -t build \
      -p @grpc-patterns/auth @grpc-patterns/analytics @grpc-patterns/metrics @grpc-patterns/chat @grpc-patterns/orders @grpc-patterns/cli \
 && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /repo/package.json ./
COPY --from=build /repo/node_modules ./node_modules
COPY --from=build /repo/libs ./libs
COPY --from=build /repo/apps ./apps
# PGlite data of auth and orders: named volumes mounted here start out owned by `node`.
RUN mkdir -p /data/auth /data/orders && chown -R 1000:1000 /data
# The `node` user (uid/gid 1000) of the official Node image.
USER 1000:1000
EXPOSE 50051 50052 50053 50054 50055 9101 9102 9103 9104 9105
# grpc.health.v1 Check of the whole server on the port the service listens on (GRPC_PORT is set
# for every service in docker-compose.yml); compose names the service too (--service).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD node apps/cli/dist/main.js health --target "127.0.0.1:${GRPC_PORT}" || exit 1
CMD ["node", "apps/cli/dist/main.js", "--help"]
