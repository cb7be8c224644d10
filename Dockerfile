# Curator worker image: `docker compose up` builds it (see docker-compose.yml).
FROM node:20-bookworm-slim

# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production \
    CURATOR_CACHE_DIR=/data/curator

COPY package.json package-lock.json ./
# If npm ci rejects the lockfile (it lacks some other-platform optional binaries), install the versions it pins.
RUN (npm ci --omit=dev --no-audit --no-fund \
     || npm install --omit=dev --no-save --no-audit --no-fund) \
  && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples

RUN mkdir -p /data/curator && chown -R node:node /data/curator
USER node

CMD ["npx", "tsx", "src/cli/main.ts", "worker", "--curators", "/app/examples/curators.ts"]
