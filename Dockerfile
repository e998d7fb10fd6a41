# Images for the Docker Compose stack (docker-compose.yml).
#
#   target runtime         the trendstream binary (ingest, serve, top, ...) on
#                          scratch: static, CA certificates, non-root user
#   target go-worker-pool  Beam's Go SDK worker pool plus the probe binary,
#                          because the upstream image is distroless and has no
#                          program a healthcheck could run
#   target flink-job-server
#                          Beam's Flink job server with our fix of
#                          apache/beam#27648 first on its class path
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

# Beam's Flink job server with our fix of apache/beam#27648: Beam 2.62.0's
# runner keeps every residual of the Kafka reader under a state of its own
# and never clears it, so a live job's checkpoints grow by about 180 KB a
# minute at 50 posts/s (docs/local-cluster.md, "Long live runs"). The patch
# is built by the script that builds it for the local cluster
# (flink/cluster/jobserver/residuals/build.sh), here compiled against the
# image's own jars, so a class the image lacks or has moved fails the build
# rather than the job.
FROM maven:3.9.9-eclipse-temurin-17 AS job-server-patch
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 && \
    rm -rf /var/lib/apt/lists/*
COPY --from=apache/beam_flink1.19_job_server:2.62.0 /opt/apache/beam/jars/ /jobserver/lib/
COPY flink/cluster/jobserver/residuals/ /src/residuals/
RUN --mount=type=cache,target=/root/.m2 \
    bash /src/residuals/build.sh /jobserver/lib /out/beam-27648-residuals.jar

FROM apache/beam_flink1.19_job_server:2.62.0 AS flink-job-server
COPY --from=job-server-patch /out/beam-27648-residuals.jar /opt/trendstream/beam-27648-residuals.jar
# The patch first on the class path, as flink/cluster/cluster.sh starts the
# local job server: its classes replace the runner's, and the runner stages
# the class path to the TaskManagers in this order. Compose's `command`
# passes the job server's flags, as to the image's own entrypoint.
ENTRYPOINT ["java", "-cp", "/opt/trendstream/beam-27648-residuals.jar:/opt/apache/beam/jars/*", "org.apache.beam.runners.flink.FlinkJobServerDriver"]
