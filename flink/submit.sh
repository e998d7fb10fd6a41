#!/usr/bin/env bash
# make submit: build the trending pipeline as a static linux/amd64 binary and
# submit it, detached, to the Flink cluster of the Docker Compose stack
# through Beam's portable runner and the Flink job server.
#
# The binary is both the submitter and the worker: it runs once in the
# compose service "submit" (on the stack's network, where the job server's
# artifact endpoint beam-job-server:8098 resolves), uploads itself as the
# worker binary, and the Go worker pool beside each taskmanager runs it.
# Pipeline flags travel to the workers inside the pipeline options.
#
# Settings (environment): JOB_NAME, PARALLELISM, START, GROUP, WINDOW_SIZE,
# WINDOW_PERIOD, TOP_K, PIPELINE_BROKERS, PIPELINE_DATABASE_URL, POSTS_TOPIC,
# TRENDS_TOPIC, FORCE=1 (submit even if a job of that name is running).
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
PIPELINE_BROKERS=${PIPELINE_BROKERS:-kafka:9092}
PIPELINE_DATABASE_URL=${PIPELINE_DATABASE_URL:-postgres://trendstream:trendstream@postgres:5432/trendstream?sslmode=disable}
POSTS_TOPIC=${POSTS_TOPIC:-trendstream.posts}
TRENDS_TOPIC=${TRENDS_TOPIC:-trendstream.trends}
GO=${GO:-go}
COMPOSE=${COMPOSE:-docker compose}

# Where docker-compose.yml mounts bin/linux_amd64 in the submit service.
worker=/opt/trendstream/pipeline/trending

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

echo "submit: submitting $JOB_NAME (parallelism $PARALLELISM, start $START)"
$COMPOSE --profile submit run --rm --no-TTY submit \
  --runner=flink \
  --endpoint=beam-job-server:8099 \
  --environment_type=EXTERNAL \
  --environment_config=localhost:50000 \
  --worker_binary="$worker" \
  --job_name="$JOB_NAME" \
  --parallelism="$PARALLELISM" \
  --async \
  -brokers="$PIPELINE_BROKERS" \
  -posts-topic="$POSTS_TOPIC" \
  -trends-topic="$TRENDS_TOPIC" \
  -database-url="$PIPELINE_DATABASE_URL" \
  -window-size="$WINDOW_SIZE" \
  -window-period="$WINDOW_PERIOD" \
  -top-k="$TOP_K" \
  -start="$START" \
  -group="$GROUP"
echo "submit: done; watch it at http://localhost:8081"
