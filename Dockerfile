# Curator worker image: `docker compose up` builds it (see docker-compose.yml). It runs the compiled package with
# plain node, as users install it: no TypeScript, tsx or compilers in the final image.

# --- build: the library (lib/), the example curators compiled against it, production node_modules
FROM node:20-bookworm-slim AS build

# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY package.json package-lock.json ./
# If npm ci rejects the lockfile (it lacks some other-platform optional binaries), install the versions it pins.
RUN npm ci --no-audit --no-fund || npm install --no-save --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY scripts/esm-wrappers.js ./scripts/
COPY src ./src
COPY examples/curators.ts ./examples/
# The example curators import the sources (`../src`); compiled, they require the built library (`../lib`) instead,
# so that the CLI and the curators share one copy of it.
RUN npm run build \
  && npx tsc examples/curators.ts --outDir /tmp/examples --rootDir . --module commonjs --target ES2022 --lib ES2022 \
       --types node --strict --esModuleInterop --skipLibCheck \
  && mkdir -p examples-dist \
  && sed 's#require("\.\./src")#require("../lib")#' /tmp/examples/examples/curators.js > examples-dist/curators.js \
  && grep -q 'require("../lib")' examples-dist/curators.js

# Production dependencies only, plus zod, which the example curators use (an optional peer of the library).
RUN mv node_modules/zod /tmp/zod \
  && npm prune --omit=dev --no-audit --no-fund \
  && mv /tmp/zod node_modules/zod

# --- runtime
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    CURATOR_CACHE_DIR=/data/curator

COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/lib ./lib
COPY bin/curator.js ./bin/
COPY --from=build /src/examples-dist/curators.js ./examples/curators.js

RUN mkdir -p /data/curator && chown -R node:node /data/curator
USER node

CMD ["node", "bin/curator.js", "worker", "--curators", "/app/examples/curators.js"]
