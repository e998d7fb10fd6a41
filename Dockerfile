# Images for the Docker Compose stack (docker-compose.yml).
#
#   target runtime         the trendstream binary (ingest, serve, top, ...) on
#                          scratch: static, CA certificates, non-root user
#   target go-worker-pool  Beam's Go SDK worker pool plus the probe binary,
#                          because the upstream image is distroless and has no
#                          program a healthcheck could run
#
# The Go version matches the toolchain the project is developed and tested
# with; the Beam version matches go.mod (github.com/apache/beam/sdks/v2).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Module download is its own layer so editing code does not refetch ~150 MB
# of modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/trendstream ./cmd/trendstream && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/probe ./deploy/probe && \
    mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch AS runtime
# TLS to the Bluesky relay needs the CA bundle; scratch has none.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/tmp /tmp
COPY --from=build /out/trendstream /out/probe /usr/local/bin/
# 65532 is the conventional "nonroot" uid; scratch has no passwd file, so the
# numeric form is used.
USER 65532:65532
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/trendstream"]
CMD ["--help"]

FROM apache/beam_go_sdk:2.77.0 AS go-worker-pool
COPY --from=build /out/probe /usr/local/bin/probe
# Entrypoint stays the SDK's /opt/apache/beam/boot; compose passes --worker_pool.
