# imgtokens web app: `docker build -t imgtokens . && docker run -p 8000:8000 -v hf:/data/hf imgtokens`
# Two stages: the first compiles TypeScript (dev dependencies), the second installs production dependencies
# only and copies the compiled dist/ in. See docs/deploy.md.

FROM node:20-slim AS build
# onnxruntime-node: no CUDA download from api.nuget.org (see .npmrc); --ignore-scripts below skips it too.
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: the root `prepare` script (npm run build) needs the sources, copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    HF_HOME=/data/hf
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts skips `prepare` (dist/ comes from the build stage) and onnxruntime-node's optional CUDA
# download (ONNXRUNTIME_NODE_INSTALL=skip says the same), and sharp and @napi-rs/canvas ship prebuilt binaries as optional dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY assets ./assets
RUN printf '#!/bin/sh\nexec node /app/dist/cli/main.js "$@"\n' > /usr/local/bin/imgtokens \
 && chmod +x /usr/local/bin/imgtokens \
 && mkdir -p /data/hf && chown node:node /data/hf
USER node
VOLUME ["/data/hf"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["imgtokens", "serve", "--host", "0.0.0.0", "--port", "8000"]
