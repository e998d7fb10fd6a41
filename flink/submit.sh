#!/usr/bin/env bash
# make submit / make cluster-submit: build the trending pipeline as a static
# linux/amd64 binary and submit it, detached, to a Flink session cluster
# through Beam's portable runner and the Flink job server.
#
# The binary is both the submitter and the worker: it uploads itself as the
# worker binary, and the Go worker pool beside each taskmanager runs it.
# Pipeline flags travel to the workers inside the pipeline options.
#
# TARGET=compose (make submit): the submitter runs once in the compose
#   service "submit", on the stack's network, where the job server's
#   artifact endpoint beam-job-server:8098 resolves.
# TARGET=local (make cluster-submit): the local cluster of flink/cluster
#   (docs/local-cluster.md); the submitter runs on this host against
#   JOB_ENDPOINT (127.0.0.1:8099), Kafka and PostgreSQL on loopback.
#
# Settings (environment): TARGET, JOB_NAME, PARALLELISM, START, GROUP,
# WINDOW_SIZE, WINDOW_PERIOD, TOP_K, PIPELINE_BROKERS, PIPELINE_DATABASE_URL,
# POSTS_TOPIC, TRENDS_TOPIC, JOB_ENDPOINT (local), FLINK_REST (job listing),
# FORCE=1 (submit even if a job of that name is running), SAVEPOINT (restore
# the job from this savepoint, as `flink/jobs.sh stop` printed it).
set -euo pipefail
cd "$(dirname "$0")/.."

JOB_NAME=${JOB_NAME:-trendstream-trending}
PARALLELISM=${PARALLELISM:-2}
# committed: resume from the consumer group's committed offsets, so a
# resubmission after cancel continues where the last job stopped.
START=${START:-committed}
GROUP=${GROUP:-trendstream-trending}
WINDOW_SIZE=${WINDOW_SIZE:-10m}
WINDOW_PERIOD=${WINDOW_PERIOD:-1m}
TOP_K=${TOP_K:-20}
TARGET=${TARGET:-compose}
case "$TARGET" in
  compose)
    PIPELINE_BROKERS=${PIPELINE_BROKERS:-kafka:9092}
    PIPELINE_DATABASE_URL=${PIPELINE_DATABASE_URL:-postgres://trendstream:trendstream@postgres:5432/trendstream?sslmode=disable}
    JOB_ENDPOINT=${JOB_ENDPOINT:-beam-job-server:8099}
    # flink/conf/config.yaml's execution.checkpointing.interval.
    CHECKPOINT_INTERVAL=${CHECKPOINT_INTERVAL:-30s}
    ;;
  local)
    PIPELINE_BROKERS=${PIPELINE_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
    PIPELINE_DATABASE_URL=${PIPELINE_DATABASE_URL:-${DATABASE_URL:-}}
    JOB_ENDPOINT=${JOB_ENDPOINT:-127.0.0.1:${BEAM_JOB_PORT:-8099}}
    # flink/cluster/cluster.sh's execution.checkpointing.interval.
    CHECKPOINT_INTERVAL=${CHECKPOINT_INTERVAL:-${FLINK_CHECKPOINT_INTERVAL:-10s}}
    ;;
  *)
    echo "submit: TARGET must be compose or local, not '$TARGET'" >&2
    exit 2
    ;;
esac
POSTS_TOPIC=${POSTS_TOPIC:-trendstream.posts}
TRENDS_TOPIC=${TRENDS_TOPIC:-trendstream.trends}
GO=${GO:-go}
COMPOSE=${COMPOSE:-docker compose}

# The worker binary as the submitter sees it: where docker-compose.yml
# mounts bin/linux_amd64 in the submit service, or the build itself.
worker=/opt/trendstream/pipeline/trending
[ "$TARGET" = local ] && worker=$PWD/bin/linux_amd64/trending

if [ "${FORCE:-0}" != 1 ]; then
  running=$(bash flink/jobs.sh running "$JOB_NAME" || true)
  if [ -n "$running" ]; then
    echo "submit: a job named $JOB_NAME is already running:" >&2
    echo "$running" >&2
    echo "submit: run 'make cancel' first, or FORCE=1 to submit anyway" >&2
    exit 1
  fi
fi

mkdir -p bin/linux_amd64
echo "submit: building ./pipelines/trending/cmd/trending for linux/amd64"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -ldflags="-s -w" \
  -o bin/linux_amd64/trending ./pipelines/trending/cmd/trending

echo "submit: submitting $JOB_NAME to $JOB_ENDPOINT (parallelism $PARALLELISM, start $START)"
args=(
  --runner=flink
  --endpoint="$JOB_ENDPOINT"
  --environment_type=EXTERNAL
  --environment_config=localhost:50000
  --worker_binary="$worker"
  --job_name="$JOB_NAME"
  --parallelism="$PARALLELISM"
  --async
  -brokers="$PIPELINE_BROKERS"
  -posts-topic="$POSTS_TOPIC"
  -trends-topic="$TRENDS_TOPIC"
  -database-url="$PIPELINE_DATABASE_URL"
  -window-size="$WINDOW_SIZE"
  -window-period="$WINDOW_PERIOD"
  -top-k="$TOP_K"
  -start="$START"
  -group="$GROUP"
  -flink-checkpointing-interval="$CHECKPOINT_INTERVAL"
)
if [ -n "${SAVEPOINT:-}" ]; then
  # The job goes on with the stopped job's windows, baselines and read
  # positions (docs/local-cluster.md, "Upgrading a job"); START is unused.
  args+=(-flink-savepoint-path="$SAVEPOINT")
fi
if [ "$TARGET" = local ]; then
  bin/linux_amd64/trending "${args[@]}"
else
  $COMPOSE --profile submit run --rm --no-TTY submit "${args[@]}"
fi
echo "submit: done; watch it at ${FLINK_REST:-http://127.0.0.1:8081}"
