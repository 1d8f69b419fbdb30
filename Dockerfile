# syntax=docker/dockerfile:1

# Build: full dependency tree (Nest CLI, TypeScript, esbuild), compile src/ to dist/ and bundle the browser
# pages from web/ into dist/public.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY scripts/build-web.mjs ./scripts/
COPY src ./src
COPY web ./web
RUN npm run build

# Runtime: production dependencies and dist/ only, as the image's unprivileged `node` user.
# (argon2 ships prebuilt binaries for linux x64 glibc; bookworm-slim is glibc.)
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Code stays owned by root (read-only to the app); only DATA_DIR is writable (used without DATABASE_URL).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:3000/health/live').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]
# The app drains on SIGTERM and exits within 10 s (give it stop_grace_period > 10s in compose).
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
