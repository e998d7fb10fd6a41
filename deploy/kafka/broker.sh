#!/usr/bin/env bash
# A real Apache Kafka broker without Docker: one KRaft node that is broker and
# controller at once, on 127.0.0.1 only, run from Kafka's Maven jars.
#
#   broker.sh fetch     download the pinned Kafka jars into the cache (once) and verify them
#   broker.sh start     start in the background, wait until it serves, print the bootstrap address
#   broker.sh stop      SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds
#   broker.sh status    print whether it runs (exit 0) or not (exit 3)
#   broker.sh run       format if new, then run in the foreground (exec java): what Go's
#                       internal/services/kafkabroker uses, so it owns the JVM process directly
#   broker.sh record-sums   rewrite kafka-<version>.sha256 from the cache (after bumping the pin)
#
# Environment (defaults in brackets):
#   TRENDSTREAM_CACHE      [$HOME/.cache/trendstream] jars go to kafka-<version>/libs under it
#   KAFKA_STATE_DIR        [$TRENDSTREAM_CACHE/cluster/kafka] config, data/, logs/, kafka.pid
#   KAFKA_PORT             [9092] client listener on 127.0.0.1
#   KAFKA_CONTROLLER_PORT  [9093] KRaft controller listener on 127.0.0.1
#   KAFKA_HEAP_OPTS        [-Xms256m -Xmx512m]
#   KAFKA_JVM_OPTS         [-XX:TieredStopAtLevel=1] other JVM options
#   KAFKA_EXTRA_PROPERTIES extra server.properties lines, appended last (so they win)
#   KAFKA_START_TIMEOUT    [90] seconds start waits for the broker
#   KAFKA_STOP_TIMEOUT     [30] seconds stop waits before SIGKILL
#
# The jars live outside the repository because they are 43 MB and identical
# for every checkout; their sha256 sums are committed beside this script, so a
# corrupted or substituted cache is refused rather than run.
set -euo pipefail

KAFKA_VERSION=4.1.2
# kafka-server 4.1.2 brings log4j-core 2.24.3 but no slf4j binding, and Kafka
# logs through slf4j 1.7: without log4j-slf4j-impl (the slf4j 1.x binding) of
# the same log4j version every broker log line would be dropped.
LOG4J_VERSION=2.24.3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${TRENDSTREAM_CACHE:-${HOME:?is not set: set TRENDSTREAM_CACHE to a cache directory}/.cache/trendstream}
HOME_DIR=$CACHE/kafka-$KAFKA_VERSION
LIBS=$HOME_DIR/libs
SUMS=$HERE/kafka-$KAFKA_VERSION.sha256
STATE=${KAFKA_STATE_DIR:-$CACHE/cluster/kafka}
PORT=${KAFKA_PORT:-9092}
CPORT=${KAFKA_CONTROLLER_PORT:-9093}
HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
# C1 only: halves the CPU a start costs (about 11 s to 6 s measured on 2 busy
# cores), which matters more for tests than peak throughput does.
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
PIDFILE=$STATE/kafka.pid
LOGDIR=$STATE/logs

die() { echo "broker.sh: $*" >&2; exit 1; }
log() { echo "broker.sh: $*" >&2; }

need_java() {
  command -v java >/dev/null ||
    die "java is required to run Kafka and was not found on PATH (Debian: apt-get install openjdk-17-jre-headless)"
}

# verify_libs DIR: the jars in DIR are exactly the pinned set, byte for byte.
verify_libs() {
  local dir=$1
  [ -f "$SUMS" ] || die "no pinned sums at $SUMS (run '$0 record-sums' after a first fetch)"
  local want got
  want=$(awk '{print $2}' "$SUMS" | sort)
  got=$(cd "$dir" && ls -1 -- *.jar 2>/dev/null | sort)
  if [ "$want" != "$got" ]; then
    log "jar set in $dir differs from $SUMS:"
    diff <(echo "$want") <(echo "$got") >&2 || true
    return 1
  fi
  (cd "$dir" && sha256sum --quiet --strict -c "$SUMS" >&2)
}

cmd_fetch() {
  mkdir -p "$CACHE"
  # Several test binaries may ask for the jars at the same moment; one fetches,
  # the others wait and then find them. The lock's fd is closed afterwards so
  # a JVM started later by this script does not inherit (and hold) the lock.
  exec 9>"$CACHE/kafka-$KAFKA_VERSION.lock"
  flock 9
  fetch_locked
  exec 9>&-
}

fetch_locked() {
  if [ -d "$LIBS" ]; then
    if [ "${RECORDING_SUMS:-}" = 1 ] || verify_libs "$LIBS"; then
      return 0
    fi
    log "cached jars in $LIBS do not match the pinned sums; fetching again"
    rm -rf "$LIBS"
  fi
  local missing=()
  command -v java >/dev/null || missing+=("java (Debian: openjdk-17-jre-headless)")
  command -v mvn >/dev/null || missing+=("mvn (Debian: maven)")
  if [ ${#missing[@]} -gt 0 ]; then
    die "fetching Kafka $KAFKA_VERSION needs $(IFS=,; echo "${missing[*]}" | sed 's/,/ and /g'), not found on PATH"
  fi
  log "fetching Kafka $KAFKA_VERSION jars into $LIBS"
  mkdir -p "$HOME_DIR"
  local tmp
  tmp=$(mktemp -d "$HOME_DIR/fetch.XXXXXX")
  cat >"$tmp/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Throwaway: written by deploy/kafka/broker.sh only to resolve Kafka's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>trendstream.local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  # -C: fail, not warn, when a download does not match the registry's checksum.
  if ! mvn -q -B -C -f "$tmp/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    cat "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see above)"
  fi
  if [ "${RECORDING_SUMS:-}" != 1 ] && ! verify_libs "$tmp/libs"; then
    rm -rf "$tmp"
    die "fetched jars do not match $SUMS: refusing to use them"
  fi
  mv "$tmp/libs" "$LIBS"
  rm -rf "$tmp"
  log "Kafka $KAFKA_VERSION: $(ls "$LIBS" | wc -l) jars in $LIBS"
}

cmd_record_sums() {
  RECORDING_SUMS=1 cmd_fetch
  (cd "$LIBS" && sha256sum -- *.jar) >"$SUMS"
  log "wrote $SUMS ($(wc -l <"$SUMS") jars)"
}

# Kafka's cluster ids are 16 random bytes in unpadded URL-safe base64; like
# Kafka's own generator, avoid a leading '-' that CLI parsers take for a flag.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != - ] && { echo "$id"; return; }
  done
}

write_config() {
  mkdir -p "$STATE/data" "$LOGDIR"
  cat >"$STATE/server.properties" <<EOF
# Written by deploy/kafka/broker.sh on every start; edits here are lost.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data
# Topics are created explicitly (from Go, or create-topics.sh in Compose): a
# typo in a topic name must fail, not silently create a topic.
auto.create.topics.enable=false
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
# One node: every internal topic has a single replica. Fewer partitions than
# the default 50 because creating them costs seconds on a 2-core machine.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Records carry the post's event time (CreateTime). Recordings replay posts
# that are months old and clocks of producers drift; Kafka 4 rejects records
# more than an hour in the future by default. Accept any timestamp.
log.message.timestamp.before.max.ms=9223372036854775807
log.message.timestamp.after.max.ms=9223372036854775807
# Same limit as the embedded kfake broker (internal/services/kafkalocal), so both
# accept the same records; the producer's own limit is 4 MiB.
message.max.bytes=8388608
# Consumer groups start at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# Small thread pools: this runs beside the pipeline and tests on 2 cores.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
  if [ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]; then
    printf '%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$STATE/server.properties"
  fi
  # The Maven jars have no log4j2 config (the tarball's config/ is missing),
  # so write one that sends everything to a file instead of the terminal.
  cat >"$STATE/log4j2.properties" <<EOF
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOGDIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
# The state-change and request loggers are chatty at INFO.
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

java_opts() {
  # shellcheck disable=SC2086 # HEAP and JVM_OPTS are lists of options
  echo $HEAP $JVM_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$STATE/log4j2.properties" "-Dkafka.logs.dir=$LOGDIR"
}

# format_if_new: KRaft needs a formatted log dir (cluster id, the single
# voter). A formatted dir remembers its controller port, so it may not change.
format_if_new() {
  if [ -f "$STATE/data/meta.properties" ]; then
    if [ -f "$STATE/ports" ] && [ "$(cat "$STATE/ports")" != "$PORT $CPORT" ]; then
      die "$STATE was formatted for ports $(cat "$STATE/ports") (client, controller); use those or remove the directory"
    fi
    return 0
  fi
  local id
  id=$(new_cluster_id)
  log "formatting $STATE/data (cluster id $id)"
  # shellcheck disable=SC2046
  java $(java_opts) -cp "$LIBS/*" kafka.tools.StorageTool format --standalone \
    -t "$id" -c "$STATE/server.properties" >"$LOGDIR/format.log" 2>&1 ||
    { cat "$LOGDIR/format.log" >&2; die "formatting $STATE/data failed"; }
  echo "$PORT $CPORT" >"$STATE/ports"
}

prepare() {
  need_java
  cmd_fetch
  write_config
  format_if_new
}

cmd_run() {
  prepare
  # shellcheck disable=SC2046
  exec java $(java_opts) -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  # The pid may have been reused by another process after a crash.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then
    echo "$pid"
    return 0
  fi
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
  if pid=$(running_pid); then
    log "already running (pid $pid)"
    echo "127.0.0.1:$PORT"
    return 0
  fi
  port_open "$PORT" && die "port $PORT already answers on 127.0.0.1: another broker (or make run's embedded one)? set KAFKA_PORT"
  prepare
  # A fresh server.log per start, so waiting below sees only this start's lines.
  [ -f "$LOGDIR/server.log" ] && mv -f "$LOGDIR/server.log" "$LOGDIR/server.log.1"
  # nohup, not setsid: setsid forks when it is a group leader, and then $!
  # would not be the JVM's pid.
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties" \
    >"$LOGDIR/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$PORT" && grep -q 'Kafka Server started' "$LOGDIR/server.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOGDIR/server.log" "$LOGDIR/stdout.log" >&2 2>/dev/null || true
      rm -f "$PIDFILE"
      die "Kafka exited during start (logs in $LOGDIR)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      die "Kafka did not serve on 127.0.0.1:$PORT within ${START_TIMEOUT}s (pid $pid, logs in $LOGDIR)"
    fi
    sleep 0.2
  done
  log "Kafka $KAFKA_VERSION running (pid $pid), data in $STATE/data, logs in $LOGDIR"
  echo "127.0.0.1:$PORT"
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "no exit ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL to $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "running: pid $pid, bootstrap 127.0.0.1:$PORT, Kafka $KAFKA_VERSION, state $STATE"
    return 0
  fi
  echo "stopped (state $STATE)"
  return 3
}

case ${1:-} in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
run) cmd_run ;;
record-sums) cmd_record_sums ;;
*)
  echo "usage: $0 fetch|start|stop|status|run|record-sums (see the header of this script)" >&2
  exit 2
  ;;
esac
