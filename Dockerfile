# tokensmith's image: production dependencies only, Node.js 24, a non-root uid, and nothing that
# needs a writable root filesystem or a capability. The base images are build arguments: the
# defaults are the official Node.js 24 image; anything with `node` 24 on PATH works (this
# project's CI builds from a Debian base made locally: scripts/build-image.ts).
#
#   podman build -t tokensmith:dev --build-arg COMMIT=$(git rev-parse HEAD) .
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim
ARG BASE_IMAGE=${NODE_IMAGE}

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# No lifecycle scripts, no devDependencies (tests, the test servers, the node@24 package).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# The controller compiled to JavaScript (tsc, type-checked): Node.js runs .ts by stripping types
# with a WebAssembly module that costs ~26 MB of memory in every process; JavaScript needs none.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM ${BASE_IMAGE}
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="tokensmith" \
      org.opencontainers.image.description="A Kubernetes operator that mints, stores, rotates, revokes and verifies API tokens" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${COMMIT}"
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json LICENSE ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production \
    TOKENSMITH_COMMIT=${COMMIT}
# 65532: the "nonroot" uid of distroless images; no home, no shell needed.
USER 65532:65532
EXPOSE 8443 9402
# --optimize-for-size: V8 grows its heap less eagerly; measured (bench:scale, 1,000 policies) peak
# RSS 302 → 151 MB for 7.0 → 8.0 CPU seconds per 1,000 policies.
ENTRYPOINT ["node", "--optimize-for-size", "/app/bin/tokensmith.js"]
CMD ["run"]
