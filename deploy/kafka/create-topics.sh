#!/bin/sh
# Creates trendstream's Kafka topics; run once by the kafka-init service of
# docker-compose.yml (apache/kafka image) after the broker is healthy.
#
# Idempotent: existing topics are kept (partition counts are never changed,
# because that would move authors to other partitions and break per-author
# order) but their configs are re-applied, so editing a retention here and
# re-running `make up` takes effect.
#
# Every value can be overridden from the environment of the kafka-init service.
set -eu

BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
BIN=${KAFKA_BIN:-/opt/kafka/bin}

# Posts are the replayable event log: kept 30 days so the pipeline can be
# re-run over past windows (a new scoring model, a bug fix) from Kafka alone.
POSTS_TOPIC=${POSTS_TOPIC:-trendstream.posts}
POSTS_PARTITIONS=${POSTS_PARTITIONS:-6}
POSTS_RETENTION_MS=${POSTS_RETENTION_MS:-2592000000}
# Trends are derived data, re-creatable from posts: 7 days.
TRENDS_TOPIC=${TRENDS_TOPIC:-trendstream.trends}
TRENDS_PARTITIONS=${TRENDS_PARTITIONS:-3}
TRENDS_RETENTION_MS=${TRENDS_RETENTION_MS:-604800000}
# Raw firehose frames (optional, large): 3 days, enough to debug a decoder.
RAW_TOPIC=${RAW_TOPIC:-trendstream.raw}
RAW_PARTITIONS=${RAW_PARTITIONS:-6}
RAW_RETENTION_MS=${RAW_RETENTION_MS:-259200000}
# Events the ingest could not deliver (too large, not encodable, refused by
# the broker), with the reason in headers: kept as long as the posts.
DEADLETTER_TOPIC=${DEADLETTER_TOPIC:-trendstream.deadletter}
DEADLETTER_RETENTION_MS=${DEADLETTER_RETENTION_MS:-2592000000}
# The ingest's resume cursor per source: compacted, one partition. The ingest
# creates it itself if missing; creating it here keeps every topic of the
# stack in one place.
CURSORS_TOPIC=${CURSORS_TOPIC:-trendstream.cursors}

# ensure TOPIC PARTITIONS CONFIGS: CONFIGS is a comma list of key=value.
ensure() {
  topic=$1 partitions=$2 configs=$3
  "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter \
    --entity-type topics --entity-name "$topic" --add-config "$configs"
  echo "topic $topic ready: $configs"
}

# CreateTime: the record timestamp is the post's observed_at, which the
# pipeline uses as event time. max.message.bytes matches the producer's
# MaxMessageBytes in internal/platform/kafkaconf.
common="cleanup.policy=delete,message.timestamp.type=CreateTime,compression.type=producer,max.message.bytes=4194304"

ensure "$POSTS_TOPIC" "$POSTS_PARTITIONS" "$common,retention.ms=$POSTS_RETENTION_MS"
ensure "$TRENDS_TOPIC" "$TRENDS_PARTITIONS" "$common,retention.ms=$TRENDS_RETENTION_MS"
ensure "$RAW_TOPIC" "$RAW_PARTITIONS" "$common,retention.ms=$RAW_RETENTION_MS"
ensure "$DEADLETTER_TOPIC" 1 "retention.ms=$DEADLETTER_RETENTION_MS"
ensure "$CURSORS_TOPIC" 1 "cleanup.policy=compact"
