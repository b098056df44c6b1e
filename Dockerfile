# syntax=docker/dockerfile:1
# meshdrift: multi-stage build on Node 24 LTS. The final image has production dependencies only
# and runs as the unprivileged `node` user.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# `npm run build` checks the Node version first (scripts/node-guard.cjs) and copies the web page's
# static files (src/http/ui/static) into dist.
COPY scripts/node-guard.cjs ./scripts/
COPY src ./src
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production
# A small young generation and a bounded old one: RSS 270 MB watching 2,000 Applications of 200
# resources instead of 515 MB with V8's defaults, which size the heap from the node's memory
# (docs/BENCHMARKS.md, watch memory). Raise the old space for very large Argo CD API lists.
ENV NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=4"
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY examples ./examples
# The commit built (the release workflow passes github.sha): `meshdrift --version`,
# meshdrift_build_info{commit} and /api/v2/status read it (src/model/build-info.ts); unset, none.
ARG MESHDRIFT_COMMIT=""
RUN printf '%s\n' "$MESHDRIFT_COMMIT" > BUILD_COMMIT
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
