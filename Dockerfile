# The build stage compiles the TypeScript sources to dist/ (`npm ci` runs the
# `prepare` script, which needs the dev dependencies); the deps stage installs
# production packages only, for the final image.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund

FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` runs here too, and finds no TypeScript: it says so and builds nothing.
COPY bin ./bin
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
# examples/docker.yaml runs the filesystem MCP server through npx. It is only a
# devDependency of this repo, so install it globally at the version the lock
# file pins: npx then finds it instead of fetching the latest at start-up.
COPY package-lock.json /tmp/package-lock.json
RUN version=$(node -p "require('/tmp/package-lock.json').packages['node_modules/@modelcontextprotocol/server-filesystem'].version") \
 && npm install --global --no-audit --no-fund "@modelcontextprotocol/server-filesystem@${version}" \
 && npm cache clean --force \
 && rm /tmp/package-lock.json \
 && groupadd --system airlock \
 && useradd --system --gid airlock --create-home --home-dir /home/airlock airlock
WORKDIR /app
# Everything stays owned by root, so the gateway cannot rewrite its own code
# or policies; only its state folder and the example sandbox are its own.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
# No src/, as in the published package: bin/airlock.js runs dist/, and tsx (a dev dependency) is not needed.
COPY --from=build /app/dist ./dist
COPY policies ./policies
COPY schema ./schema
COPY examples ./examples
RUN mkdir .airlock && chown airlock:airlock .airlock examples/sandbox examples/sandbox/*
USER airlock
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/airlock.js", "start", "-c", "examples/docker.yaml"]
