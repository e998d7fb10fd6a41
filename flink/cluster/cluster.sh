#!/usr/bin/env bash
# A local Apache Flink session cluster for trendstream, without Docker:
# a JobManager (REST API and web UI) and a separate TaskManager as plain JVM
# processes on loopback, Beam's Flink job server, Beam's Go SDK worker pool
# and a Kafka broker (deploy/kafka/broker.sh). docs/local-cluster.md has the
# details.
#
#   cluster.sh fetch              download and verify Flink, try the Beam job
#                                 server jar, build the Go boot program
#   cluster.sh fetch-job-server   only try the Beam job server jar
#   cluster.sh up                 fetch if needed, write the config, start
#                                 everything, wait for the TaskManager's slots
#   cluster.sh down               stop everything (SIGTERM, then SIGKILL)
#   cluster.sh status             what is running
#   cluster.sh taskmanager-kill   SIGKILL the TaskManager (fault tests)
#   cluster.sh taskmanager-start  start the TaskManager again, wait for it
#   cluster.sh env                print FLINK_HOME and FLINK_CONF_DIR as shell
#                                 assignments (for bin/flink by hand)
#
# Settings (environment):
#   TRENDSTREAM_CACHE     download/build cache (default ~/.cache/trendstream)
#   FLINK_CLUSTER_DIR     state: config, logs, pids, checkpoints
#                         (default $TRENDSTREAM_CACHE/cluster/flink, beside
#                         deploy/kafka/broker.sh's cluster/kafka)
#   FLINK_REST_PORT       JobManager REST API and web UI (8081)
#   FLINK_RPC_PORT        JobManager RPC (6123)
#   FLINK_TM_SLOTS        TaskManager slots (4)
#   FLINK_JM_MEMORY, FLINK_TM_MEMORY   process sizes (896m, 2048m)
#   FLINK_TM_OFFHEAP      task off-heap memory, the SDK harnesses' gRPC
#                         buffers (512m)
#   FLINK_CHECKPOINT_INTERVAL          (10s)
#   FLINK_HEARTBEAT_INTERVAL, FLINK_HEARTBEAT_TIMEOUT  (10s, 50s)
#   BEAM_JOB_PORT, BEAM_ARTIFACT_PORT  Beam job server (8099, 8098)
#   BEAM_FLINK_JOB_SERVER_JAR          use this fat job server jar instead of
#                                      the jars Maven resolves from
#                                      jobserver/pom.xml
#   MVN                   Maven (mvn); its settings.xml chooses the repository
#   CLUSTER_JOB_SERVER=0, CLUSTER_WORKER_POOL=0, CLUSTER_KAFKA=0
#                         leave that part out
#   CLUSTER_RESIDUALS_PATCH=0  the job server without our bound on the
#                         runner's SDF residual state (apache/beam#27648;
#                         build_residuals_patch), as Beam published it
#   UP_TIMEOUT, DOWN_TIMEOUT           seconds (180, 20)
#
# Exit status 4 (PORT_TAKEN): "up" found a port it was given in use by
# another process. It has stopped what it started (not the Kafka broker);
# stop the other process or choose other ports.
#   JAVA_HOME, PYTHON, GO
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

# --- pins -------------------------------------------------------------------
# Flink 1.19 because it is the only Flink whose Beam runner Maven Central
# serves these machines: org.apache.beam:beam-runners-flink-1.19 at 2.62.0
# and 2.70.0, and beam-runners-java-job-service (FlinkJobServerDriver's base)
# at 2.62.0 but not 2.70.0. Every beam-runners-flink-*-job-server fat jar,
# and the runners for Flink 1.20 and 2.x, answer 404 (docs/local-cluster.md).
# The job server is therefore assembled from those jars by Maven
# (jobserver/pom.xml) instead of downloaded as one jar.
FLINK_VERSION=1.19.3
FLINK_MINOR=${FLINK_VERSION%.*}
# The Go SDK (go.mod, 2.77.0) is newer than the job server: the Job and Fn
# API protos are versioned and the Go SDK's Flink test filters are the same
# for both; see docs/local-cluster.md for what that mismatch means.
BEAM_JOB_SERVER_VERSION=2.62.0
# The Go boot program follows the Beam Go SDK in go.mod.
BEAM_VERSION=$(awk '$1 == "github.com/apache/beam/sdks/v2" { sub(/^v/, "", $2); print $2; exit }' "$repo/go.mod")
[ -n "$BEAM_VERSION" ] || { echo "cluster: cannot read the Beam version from $repo/go.mod" >&2; exit 1; }
JOB_SERVER_COORDS=org.apache.beam:beam-runners-flink-$FLINK_MINOR:$BEAM_JOB_SERVER_VERSION
JOB_SERVER_MAIN=org.apache.beam.runners.flink.FlinkJobServerDriver
# The apache-flink wheel is fetched for this interpreter tag and platform
# whatever the local Python is: only its files (scripts and config) are used,
# never imported, so the same files, and the sums in
# flink-$FLINK_VERSION.sha256, fit every machine. apache-flink-libraries
# (the jars) is a source archive for 1.19, the same for every platform.
WHEEL_PYTHON=3.11
WHEEL_PLATFORM=manylinux2014_x86_64

# --- settings ----------------------------------------------------------------
CACHE=${TRENDSTREAM_CACHE:-$HOME/.cache/trendstream}
FLINK_DIR=$CACHE/flink-$FLINK_VERSION
FLINK_HOME=$FLINK_DIR/flink
WHEELS=$FLINK_DIR/wheels
SUMS=$here/flink-$FLINK_VERSION.sha256
BEAM_DIR=$CACHE/beam-$BEAM_VERSION
BOOT=$BEAM_DIR/boot
# The job server's jars (jobserver/pom.xml's dependencies), or one fat jar.
JOB_SERVER_DIR=$CACHE/beam-flink-$FLINK_MINOR-job-server-$BEAM_JOB_SERVER_VERSION
JOB_SERVER_POM=$here/jobserver/pom.xml
# Our bound on the runner's SDF residual state (build_residuals_patch):
# its pom, patch.py and build.sh.
RESIDUALS_DIR=$here/jobserver/residuals
RESIDUALS_JAR=$JOB_SERVER_DIR/patch/beam-27648-residuals.jar
MVN=${MVN:-mvn}

STATE=${FLINK_CLUSTER_DIR:-$CACHE/cluster/flink}
CONF=$STATE/conf
LOGS=$STATE/log
PIDS=$STATE/pids

REST_PORT=${FLINK_REST_PORT:-8081}
RPC_PORT=${FLINK_RPC_PORT:-6123}
SLOTS=${FLINK_TM_SLOTS:-4}
JM_MEMORY=${FLINK_JM_MEMORY:-896m}
TM_MEMORY=${FLINK_TM_MEMORY:-2048m}
TM_OFFHEAP=${FLINK_TM_OFFHEAP:-512m}
CHECKPOINT_INTERVAL=${FLINK_CHECKPOINT_INTERVAL:-10s}
HEARTBEAT_INTERVAL=${FLINK_HEARTBEAT_INTERVAL:-10s}
HEARTBEAT_TIMEOUT=${FLINK_HEARTBEAT_TIMEOUT:-50s}
JOB_PORT=${BEAM_JOB_PORT:-8099}
ARTIFACT_PORT=${BEAM_ARTIFACT_PORT:-8098}
# Hard-coded in Beam's Go boot program (sdks/go/container/boot.go).
POOL_PORT=50000
WANT_JOB_SERVER=${CLUSTER_JOB_SERVER:-1}
# 0: the job server without the residual patch (build_residuals_patch), as
# Beam published it; only for tests of the fetch itself.
WANT_RESIDUALS_PATCH=${CLUSTER_RESIDUALS_PATCH:-1}
WANT_POOL=${CLUSTER_WORKER_POOL:-1}
WANT_KAFKA=${CLUSTER_KAFKA:-1}
UP_TIMEOUT=${UP_TIMEOUT:-180}
DOWN_TIMEOUT=${DOWN_TIMEOUT:-20}
PYTHON=${PYTHON:-python3}
GO=${GO:-go}
BROKER=$repo/deploy/kafka/broker.sh

say() { echo "cluster: $*"; }
warn() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  fi
}

need_java() {
  local j
  j=$(java_bin)
  [ -n "$j" ] || die "java not found: Flink $FLINK_VERSION needs a Java 11, 17 or 21 runtime (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
  JAVA=$j
}

# javac_bin: the compiler beside the java in use, else javac on PATH.
javac_bin() {
  local d
  d=$(dirname "$(readlink -f "$(java_bin)")")
  if [ -x "$d/javac" ]; then
    echo "$d/javac"
  elif command -v javac >/dev/null 2>&1; then
    command -v javac
  fi
}

need_python() {
  command -v "$PYTHON" >/dev/null 2>&1 ||
    die "$PYTHON not found: fetching Flink uses pip (apt-get install python3 python3-pip, or set PYTHON)"
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# lock FILE: serialise fetches that share one cache (flock(1) where present).
lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$1"
    flock 9
  fi
}

# unlock: release it, so that processes started later do not inherit it.
unlock() { exec 9>&-; }

# --- fetch -------------------------------------------------------------------

# wheels_ok: every wheel named in the sums file is present with its sum.
wheels_ok() {
  local sum name
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -f "$WHEELS/$name" ] && [ "$(sha256 "$WHEELS/$name")" = "$sum" ] || return 1
  done <"$SUMS"
}

fetch_flink() {
  need_python
  mkdir -p "$FLINK_DIR"
  lock "$FLINK_DIR/.lock"
  local stamp
  stamp=$(sha256 "$SUMS")
  if [ -f "$FLINK_HOME/.built-from" ] && [ "$(cat "$FLINK_HOME/.built-from")" = "$stamp" ]; then
    say "Flink $FLINK_VERSION: $FLINK_HOME (cached)"
    unlock
    return
  fi
  if ! wheels_ok; then
    say "Flink $FLINK_VERSION: downloading apache-flink and apache-flink-libraries $FLINK_VERSION from PyPI (~235 MB)"
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip download --quiet --no-deps --no-cache-dir --disable-pip-version-check \
      --only-binary=:all: --python-version "$WHEEL_PYTHON" --platform "$WHEEL_PLATFORM" \
      --dest "$WHEELS" "apache-flink==$FLINK_VERSION" ||
      die "pip download of apache-flink==$FLINK_VERSION failed (see above)"
    # A source archive for 1.19: only downloaded and read below, never
    # installed. pip still prepares its metadata, in an isolated build
    # environment it fetches from PyPI (setuptools and wheel);
    # --no-build-isolation would need both installed here ("invalid
    # command 'bdist_wheel'" on a fresh machine).
    "$PYTHON" -m pip download --quiet --no-deps --no-cache-dir --disable-pip-version-check \
      --no-binary=:all: \
      --dest "$WHEELS" "apache-flink-libraries==$FLINK_VERSION" ||
      die "pip download of apache-flink-libraries==$FLINK_VERSION failed (see above)"
  fi
  local sum name got
  while read -r sum name; do
    [ -n "$sum" ] || continue
    [ -f "$WHEELS/$name" ] || die "$name was not downloaded into $WHEELS (pip chose other files: $(ls "$WHEELS" | tr '\n' ' '))"
    got=$(sha256 "$WHEELS/$name")
    if [ "$got" != "$sum" ]; then
      rm -f "$WHEELS/$name"
      die "sha256 of $name is $got, but $SUMS says $sum; the file was removed"
    fi
  done <"$SUMS"
  say "Flink $FLINK_VERSION: wheels verified against $(basename "$SUMS"); unpacking into $FLINK_HOME"
  rm -rf "$FLINK_HOME.tmp"
  # FLINK_HOME is the distribution's layout: the apache-flink wheel's
  # pyflink/ brings bin/ and conf/, the apache-flink-libraries archive's
  # deps/ (pyflink/ in its 2.x wheels) lib/, opt/, plugins/ and
  # bin/bash-java-utils.jar. Nothing Python is unpacked.
  "$PYTHON" - "$FLINK_HOME.tmp" "$WHEELS" <<'EOF'
import os, shutil, sys, tarfile, zipfile
dest, wheels = sys.argv[1], sys.argv[2]
keep = ("bin/", "conf/", "lib/", "opt/", "plugins/")
n = 0

def members(path):
    """(name inside the distribution, mode, open()) of every file."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.is_dir() or not info.filename.startswith("pyflink/"):
                    continue
                yield info.filename[len("pyflink/"):], (info.external_attr >> 16) & 0o777, lambda i=info: z.open(i)
    elif path.endswith(".tar.gz"):
        with tarfile.open(path) as t:
            for info in t:
                parts = info.name.split("/", 2)
                if not info.isfile() or len(parts) < 3 or parts[1] != "deps":
                    continue
                yield parts[2], info.mode & 0o777, lambda i=info: t.extractfile(i)

for w in sorted(os.listdir(wheels)):
    for rel, mode, opener in members(os.path.join(wheels, w)):
        if not rel.startswith(keep) or ".." in rel.split("/"):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with opener() as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if rel.startswith("bin/") and not rel.endswith((".jar", ".bat")):
            mode |= 0o755
        os.chmod(out, mode or 0o644)
        n += 1
os.makedirs(os.path.join(dest, "log"), exist_ok=True)
print(f"cluster: unpacked {n} files")
EOF
  [ -f "$FLINK_HOME.tmp/lib/flink-dist-$FLINK_VERSION.jar" ] || die "the wheels hold no lib/flink-dist-$FLINK_VERSION.jar"
  [ -f "$FLINK_HOME.tmp/bin/jobmanager.sh" ] || die "the wheels hold no bin/jobmanager.sh"
  echo "$stamp" >"$FLINK_HOME.tmp/.built-from"
  rm -rf "$FLINK_HOME"
  mv "$FLINK_HOME.tmp" "$FLINK_HOME"
  say "Flink $FLINK_VERSION: FLINK_HOME=$FLINK_HOME"
  unlock
}

# fetch_job_server: the job server from BEAM_FLINK_JOB_SERVER_JAR (one fat
# jar), or its jars resolved by Maven from jobserver/pom.xml into
# JOB_SERVER_DIR/lib; returns 1 (after saying why) when there is none.
fetch_job_server() {
  if [ -n "${BEAM_FLINK_JOB_SERVER_JAR:-}" ]; then
    [ -f "$BEAM_FLINK_JOB_SERVER_JAR" ] || { warn "BEAM_FLINK_JOB_SERVER_JAR=$BEAM_FLINK_JOB_SERVER_JAR does not exist"; return 1; }
    say "Beam job server: $BEAM_FLINK_JOB_SERVER_JAR (BEAM_FLINK_JOB_SERVER_JAR)"
    return 0
  fi
  local stamp
  stamp=$(job_server_stamp)
  if [ -f "$JOB_SERVER_DIR/.built-from" ] && [ "$(cat "$JOB_SERVER_DIR/.built-from")" = "$stamp" ]; then
    say "Beam job server: $JOB_SERVER_DIR (cached)"
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 || { warn "Beam job server: $MVN not found, cannot resolve $JOB_SERVER_COORDS (apt-get install maven, or set MVN)"; return 1; }
  mkdir -p "$JOB_SERVER_DIR"
  lock "$JOB_SERVER_DIR/.lock"
  say "Beam job server: resolving $JOB_SERVER_COORDS and its dependencies from Maven (~150 MB)"
  rm -rf "$JOB_SERVER_DIR/lib.tmp"
  if ! mvn_copy "$JOB_SERVER_POM" "$JOB_SERVER_DIR/lib.tmp" "$JOB_SERVER_DIR/mvn.log"; then
    unlock
    warn "Beam job server NOT available: Maven could not resolve $JOB_SERVER_COORDS (log: $JOB_SERVER_DIR/mvn.log):"
    tail -n 15 "$JOB_SERVER_DIR/mvn.log" >&2 || true
    warn "  Point BEAM_FLINK_JOB_SERVER_JAR at Beam's beam-runners-flink-$FLINK_MINOR-job-server jar instead."
    return 1
  fi
  rm -rf "$JOB_SERVER_DIR/lib"
  mv "$JOB_SERVER_DIR/lib.tmp" "$JOB_SERVER_DIR/lib"
  rm -f "$RESIDUALS_JAR"
  if [ "$WANT_RESIDUALS_PATCH" = 1 ] && ! build_residuals_patch; then
    unlock
    return 1
  fi
  echo "$stamp" >"$JOB_SERVER_DIR/.built-from"
  unlock
  say "Beam job server: $(ls "$JOB_SERVER_DIR/lib" | wc -l) jars in $JOB_SERVER_DIR/lib"
  [ "$WANT_RESIDUALS_PATCH" != 1 ] || say "Beam job server: residual patch (apache/beam#27648) in $RESIDUALS_JAR"
}

# mvn_copy POM DIR LOG: copies POM's dependencies into DIR, logging to LOG.
# -C: fail on a checksum mismatch instead of warning.
mvn_copy() {
  "$MVN" -q -B -C -f "$1" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$2" >"$3" 2>&1
}

# job_server_stamp: what the cached job server was built from (its pom, and
# the residual patch's files), so that a change to either rebuilds it.
job_server_stamp() {
  local f
  { for f in "$JOB_SERVER_POM" "$RESIDUALS_DIR"/*; do sha256 "$f"; done
    echo "residuals patch $WANT_RESIDUALS_PATCH"; } | sha256 /dev/stdin
}

# build_residuals_patch: Beam 2.62.0's portable Flink runner keeps every
# SDF residual under a state tag of its own and never clears it, so a live
# job's reader stage grows without bound (apache/beam#27648, fixed upstream
# after the newest job server these machines resolve). jobserver/residuals
# has our edit, and its build.sh compiles it against the job server's own
# jars into RESIDUALS_JAR, which start_job_server puts first on the class
# path (and the runner stages it to the TaskManagers with the rest). The
# Compose stack's job server image is built by the same script
# (Dockerfile, flink-job-server).
build_residuals_patch() {
  local javac
  javac=$(javac_bin)
  [ -n "$javac" ] || { warn "Beam job server: javac not found (the residual patch needs a JDK; set JAVA_HOME to one)"; return 1; }
  if ! JAVAC=$javac MVN=$MVN PYTHON=$PYTHON bash "$RESIDUALS_DIR/build.sh" "$JOB_SERVER_DIR/lib" "$RESIDUALS_JAR"; then
    warn "Beam job server: building the residual patch failed (see above)"
    return 1
  fi
}

job_server_fetched() {
  [ -n "${BEAM_FLINK_JOB_SERVER_JAR:-}" ] && [ -f "$BEAM_FLINK_JOB_SERVER_JAR" ] && return 0
  [ -f "$JOB_SERVER_DIR/.built-from" ]
}

# fetch_boot: Beam's Go SDK container entrypoint (the program in
# apache/beam_go_sdk), built from the module's own Beam version.
fetch_boot() {
  if [ -x "$BOOT" ]; then
    say "Go worker pool: $BOOT (cached)"
    return 0
  fi
  command -v "$GO" >/dev/null 2>&1 || { warn "Go worker pool: go not found, cannot build Beam's Go boot program"; return 1; }
  mkdir -p "$BEAM_DIR"
  say "Go worker pool: building github.com/apache/beam/sdks/v2/go/container@v$BEAM_VERSION (a few minutes when the Go build cache is cold)"
  if ! (cd "$repo" && CGO_ENABLED=0 "$GO" build -o "$BOOT.part" github.com/apache/beam/sdks/v2/go/container); then
    rm -f "$BOOT.part"
    warn "Go worker pool: building Beam's Go boot program failed (see above)"
    return 1
  fi
  mv "$BOOT.part" "$BOOT"
  say "Go worker pool: $BOOT"
}

cmd_fetch() {
  local rc=0
  fetch_flink
  if [ "$WANT_JOB_SERVER" = 1 ]; then fetch_job_server || true; fi
  if [ "$WANT_POOL" = 1 ]; then fetch_boot || rc=1; fi
  if [ "$WANT_KAFKA" = 1 ] && [ -f "$BROKER" ]; then bash "$BROKER" fetch || rc=1; fi
  return $rc
}

# --- processes ---------------------------------------------------------------

pidfile() { echo "$PIDS/$1.pid"; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]; then
    return 1
  fi
}

# pid_of NAME: the pid if that process is alive and is the one we started
# (its command line mentions MARKER), else nothing.
pid_of() {
  local f pid marker=$2
  f=$(pidfile "$1")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  alive "$pid" || return 0
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
    return 0
  fi
  echo "$pid"
}

# Every process we start carries the state dir, or the boot binary's path,
# on its command line.
marker_of() {
  case $1 in
    worker-pool) echo "$BOOT" ;;
    *) echo "$STATE" ;;
  esac
}

running() { pid_of "$1" "$(marker_of "$1")"; }

# start_bg NAME CMD...: start CMD in its own session (so a Ctrl-C in the
# calling terminal does not reach it, and down can signal its whole process
# group), output appended to log/NAME.out, pid in pids/NAME.pid.
# STARTED names what this invocation started, for port_taken to stop.
STARTED=()

start_bg() {
  local name=$1
  shift
  STARTED+=("$name")
  mkdir -p "$PIDS" "$LOGS"
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" </dev/null >>"$LOGS/$name.out" 2>&1 9>&- &
  else
    nohup "$@" </dev/null >>"$LOGS/$name.out" 2>&1 9>&- &
  fi
  echo $! >"$(pidfile "$name")"
}

# stop NAME SIGNAL: signal the process group (harnesses of the worker pool
# are children), wait, then SIGKILL what is left.
stop() {
  local name=$1 pid i
  pid=$(running "$name")
  if [ -z "$pid" ]; then
    rm -f "$(pidfile "$name")"
    return 0
  fi
  say "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < DOWN_TIMEOUT * 5; i++)); do
    alive "$pid" || break
    sleep 0.2
  done
  if alive "$pid"; then
    warn "$name (pid $pid) did not stop within ${DOWN_TIMEOUT}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Leftovers of the group (a harness that ignored SIGTERM).
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$(pidfile "$name")"
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() {
  "$PYTHON" -c 'import socket,sys
s=socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# port_bindable PORT: no one listens on PORT on any address.
port_bindable() {
  "$PYTHON" -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# PORT_TAKEN is the exit status of an "up" that found a port it was given
# taken, before or while starting: callers that chose the ports try others.
PORT_TAKEN=4

# port_taken MESSAGE: stop what this "up" started, set the JobManager's log
# aside (the next start's BindException check must not read this one's)
# and exit PORT_TAKEN, so that the caller can simply try other ports.
port_taken() {
  warn "error: $*"
  local i f
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop "${STARTED[i]}"; done
  for f in "$LOGS"/*standalonesession*.log; do
    if [ -f "$f" ]; then mv "$f" "$f.port-taken"; fi
  done
  exit "$PORT_TAKEN"
}

need_port() { # PORT WHAT VAR
  port_bindable "$1" || port_taken "port $1 ($2, $3) is already in use by another process; stop it or set $3"
}

# overview: "<taskmanagers> <slots-total> <slots-available> <jobs-running>"
# from the JobManager's REST API, or nothing.
overview() {
  "$PYTHON" -c 'import json,sys,urllib.request
try:
    o = json.load(urllib.request.urlopen("http://127.0.0.1:%s/overview" % sys.argv[1], timeout=2))
except Exception:
    sys.exit(0)
print(o["taskmanagers"], o["slots-total"], o["slots-available"], o["jobs-running"])' "$REST_PORT"
}

# wait_for DESC SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local desc=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# tm_ids: the resource ids of the registered TaskManagers, one a line.
tm_ids() {
  "$PYTHON" -c 'import json,sys,urllib.request
try:
    o = json.load(urllib.request.urlopen("http://127.0.0.1:%s/taskmanagers" % sys.argv[1], timeout=2))
except Exception:
    sys.exit(0)
for tm in o["taskmanagers"]:
    print(tm["id"])' "$REST_PORT"
}

# new_tm OLD_IDS: a TaskManager whose id is not in OLD_IDS has registered.
new_tm() {
  local id
  for id in $(tm_ids); do
    grep -qxF -- "$id" <<<"$1" || return 0
  done
  return 1
}

tm_registered() {
  local o
  o=$(overview)
  [ -n "$o" ] && set -- $o && [ "$1" -ge 1 ] && [ "$2" -ge "$SLOTS" ]
}
# jm_up: the REST API answers; fails the wait at once when the JobManager
# process has exited (a bad config ends it within seconds).
jm_up() {
  # The pid, not running(): until the start script execs java, its command
  # line does not name the state dir.
  alive "$(cat "$(pidfile jobmanager)" 2>/dev/null)" || { warn "the JobManager exited"; JM_DEAD=1; return 0; }
  [ -n "$(overview)" ]
}

flink_env() {
  export FLINK_CONF_DIR=$CONF FLINK_LOG_DIR=$LOGS FLINK_PID_DIR=$PIDS/flink STD_REDIRECT_TO_FILE=true
  export FLINK_IDENT_STRING=${USER:-$(id -un)}
  export JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$JAVA")")")}
}

# dist_java_opts: the JVM options of the distribution's own config.yaml
# (env.java.opts.all: the --add-opens/--add-exports Flink needs on Java 17+;
# without them even "flink run" of a DataStream job fails).
dist_java_opts() {
  local o
  o=$(grep -v '^ *#' "$FLINK_HOME/conf/config.yaml" | sed -n 's/^ *all: *//p' | head -n 1)
  [ -n "$o" ] || die "no env.java.opts.all in $FLINK_HOME/conf/config.yaml"
  echo "$o"
}

# millis DURATION: 1500ms, 10s, 2min or a plain number of milliseconds, as
# milliseconds.
millis() {
  case $1 in
    *ms) echo "${1%ms}" ;;
    *min) echo $((${1%min} * 60000)) ;;
    *s) echo $((${1%s} * 1000)) ;;
    *[!0-9]* | '') die "cannot read '$1' as a duration (use 1500ms, 10s or 2min)" ;;
    *) echo "$1" ;;
  esac
}

write_config() {
  mkdir -p "$CONF" "$LOGS" "$PIDS" "$STATE/checkpoints" "$STATE/savepoints" "$STATE/tmp" "$STATE/artifacts"
  local f
  for f in "$FLINK_HOME"/conf/log4j*.properties "$FLINK_HOME"/conf/logback*.xml; do
    cp -f "$f" "$CONF/"
  done
  local java_opts
  java_opts=$(dist_java_opts)
  cat >"$CONF/config.yaml" <<EOF
# Written by flink/cluster/cluster.sh up; rewritten on every up.
# Flink $FLINK_VERSION session cluster on loopback. The Beam job server reads
# this file too (--flink-conf-dir), so it is the configuration of every Beam
# job: the Go SDK cannot send checkpoint or restart options itself.
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $RPC_PORT
jobmanager.bind-host: 127.0.0.1
jobmanager.memory.process.size: $JM_MEMORY

taskmanager.host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.numberOfTaskSlots: $SLOTS
taskmanager.memory.process.size: $TM_MEMORY
# hashmap state lives on the heap; little managed memory is needed.
taskmanager.memory.managed.fraction: 0.1
# Beam's portable runner talks to the Go SDK harnesses over gRPC, whose
# Netty buffers are direct memory counted against task off-heap. Flink's
# default (0) left about 240 MB of direct memory in all, and the data
# channels of one trending job exhausted it ("OutOfMemoryError: Cannot
# reserve 2097152 bytes of direct buffer memory"), failing the job in a
# loop.
taskmanager.memory.task.off-heap.size: $TM_OFFHEAP

rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $REST_PORT
web.upload.dir: $STATE/tmp/web-upload

parallelism.default: 1

# Milliseconds: Flink 1.19 reads these two as plain numbers ("10s" fails
# the JobManager's start with a NumberFormatException).
heartbeat.interval: $(millis "$HEARTBEAT_INTERVAL")
heartbeat.timeout: $(millis "$HEARTBEAT_TIMEOUT")

execution.checkpointing.interval: $CHECKPOINT_INTERVAL
execution.checkpointing.mode: EXACTLY_ONCE
execution.checkpointing.timeout: 10min
execution.checkpointing.min-pause: 1s
execution.checkpointing.max-concurrent-checkpoints: 1
execution.checkpointing.tolerable-failed-checkpoints: 3
execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
# Flink 1.19's names; 2.x calls these execution.checkpointing.dir,
# .savepoint-dir and .num-retained.
state.checkpoints.num-retained: 3
state.checkpoints.dir: file://$STATE/checkpoints
state.savepoints.dir: file://$STATE/savepoints
state.backend.type: hashmap

restart-strategy.type: exponential-delay
restart-strategy.exponential-delay.initial-backoff: 1s
restart-strategy.exponential-delay.max-backoff: 30s
restart-strategy.exponential-delay.backoff-multiplier: 2.0
restart-strategy.exponential-delay.reset-backoff-threshold: 10min
restart-strategy.exponential-delay.jitter-factor: 0.1
restart-strategy.exponential-delay.attempts-before-reset-backoff: 20

io.tmp.dirs: $STATE/tmp
env.java.opts.all: $java_opts
env.log.dir: $LOGS
env.pid.dir: $PIDS/flink
EOF
}

start_jobmanager() {
  if [ -n "$(running jobmanager)" ]; then
    say "jobmanager already running (pid $(running jobmanager))"
    return
  fi
  need_port "$REST_PORT" "Flink REST API and web UI" FLINK_REST_PORT
  need_port "$RPC_PORT" "Flink JobManager RPC" FLINK_RPC_PORT
  flink_env
  # -D trendstream.cluster: the state dir on the command line from the first
  # instant (pid_of), not only once the script has execed java; Flink keeps
  # it as an unused configuration key.
  start_bg jobmanager bash "$FLINK_HOME/bin/jobmanager.sh" start-foreground -D "trendstream.cluster=$STATE"
  say "jobmanager started (pid $(cat "$(pidfile jobmanager)")), log in $LOGS"
}

start_taskmanager() {
  if [ -n "$(running taskmanager)" ]; then
    say "taskmanager already running (pid $(running taskmanager))"
    return
  fi
  flink_env
  start_bg taskmanager bash "$FLINK_HOME/bin/taskmanager.sh" start-foreground -D "trendstream.cluster=$STATE"
  say "taskmanager started (pid $(cat "$(pidfile taskmanager)")), $SLOTS slots"
}

# tm_up: a TaskManager with its slots registered; fails the wait at once
# when the TaskManager process has exited (a memory configuration that does
# not add up ends it within seconds).
tm_up() {
  alive "$(cat "$(pidfile taskmanager)" 2>/dev/null)" || { warn "the TaskManager exited"; TM_DEAD=1; return 0; }
  tm_registered
}

wait_taskmanager() {
  TM_DEAD=0
  if ! wait_for "taskmanager" "$UP_TIMEOUT" tm_up || [ "$TM_DEAD" = 1 ]; then
    warn "no TaskManager with $SLOTS slots registered at http://127.0.0.1:$REST_PORT within ${UP_TIMEOUT}s (overview: $(overview))"
    warn "logs: $LOGS"
    tail -n 20 "$LOGS"/*taskexecutor*.log "$LOGS/taskmanager.out" 2>/dev/null >&2 || true
    return 1
  fi
}

start_job_server() {
  if [ -n "$(running job-server)" ]; then
    say "beam job server already running (pid $(running job-server))"
    return 0
  fi
  fetch_job_server || return 2
  need_port "$JOB_PORT" "Beam job service" BEAM_JOB_PORT
  need_port "$ARTIFACT_PORT" "Beam artifact staging" BEAM_ARTIFACT_PORT
  # -Dtrendstream.cluster: the state dir on the command line, for pid_of.
  # The job server embeds Flink's client, so it gets Flink's JVM options.
  local java_opts
  read -ra java_opts <<<"$(dist_java_opts)"
  # The class path wildcard is quoted: it is for java, not for the shell.
  # The residual patch first: its classes replace Beam's of the same name,
  # here and, staged in this order, on the TaskManagers.
  # A BEAM_FLINK_JOB_SERVER_JAR runs as it is (docs/local-cluster.md).
  local cp=$JOB_SERVER_DIR/lib/* main
  if [ -n "${BEAM_FLINK_JOB_SERVER_JAR:-}" ]; then
    main=(-jar "$BEAM_FLINK_JOB_SERVER_JAR")
  else
    if [ "$WANT_RESIDUALS_PATCH" = 1 ]; then
      [ -f "$RESIDUALS_JAR" ] || { warn "Beam job server: $RESIDUALS_JAR is missing (delete $JOB_SERVER_DIR/.built-from and fetch again)"; return 2; }
      cp=$RESIDUALS_JAR:$cp
    fi
    main=(-cp "$cp" "$JOB_SERVER_MAIN")
  fi
  start_bg job-server "$JAVA" -Xmx512m "${java_opts[@]}" "-Dtrendstream.cluster=$STATE" "${main[@]}" \
    --flink-master "127.0.0.1:$REST_PORT" --job-host 127.0.0.1 \
    --job-port "$JOB_PORT" --artifact-port "$ARTIFACT_PORT" --expansion-port -1 \
    --flink-conf-dir "$CONF" --artifacts-dir "$STATE/artifacts"
  if ! wait_for "job server" 120 port_open "$JOB_PORT"; then
    warn "Beam job server did not listen on 127.0.0.1:$JOB_PORT within 120s; see $LOGS/job-server.out"
    return 1
  fi
  say "beam job server on 127.0.0.1:$JOB_PORT (artifacts 127.0.0.1:$ARTIFACT_PORT), pid $(running job-server)"
}

start_pool() {
  if [ -n "$(running worker-pool)" ]; then
    say "go worker pool already running (pid $(running worker-pool))"
    return 0
  fi
  fetch_boot || return 1
  need_port "$POOL_PORT" "Beam Go worker pool, hard-coded in Beam's boot program" "nothing: stop the other pool"
  # boot listens on :50000 on every interface (hard-coded), and its
  # harnesses keep their files in /tmp/staged and /tmp/bin* (also
  # hard-coded).
  start_bg worker-pool "$BOOT" --worker_pool
  if ! wait_for "worker pool" 30 port_open "$POOL_PORT"; then
    warn "Go worker pool did not listen on :$POOL_PORT within 30s; see $LOGS/worker-pool.out"
    return 1
  fi
  say "go worker pool on :$POOL_PORT, pid $(running worker-pool)"
}

cmd_up() {
  need_java
  need_python
  fetch_flink
  local failed=() missing=()
  write_config
  if [ "$WANT_KAFKA" = 1 ]; then
    if [ -f "$BROKER" ]; then
      if addr=$(bash "$BROKER" start | tail -n 1); then
        # The broker does not auto-create topics (a typo must fail): create
        # trendstream's, as create-topics.sh does for the Compose stack, so
        # that ingest and cluster-submit work at once. Existing ones stay.
        (cd "$repo" && "$GO" run ./cmd/trendstream topics -brokers "$addr") ||
          failed+=("kafka topics (trendstream topics -brokers $addr)")
      else
        failed+=("kafka (deploy/kafka/broker.sh start)")
      fi
    else
      missing+=("kafka: deploy/kafka/broker.sh does not exist")
    fi
  fi
  start_jobmanager
  # The TaskManager starts at once and retries until the JobManager's RPC
  # answers: both JVMs start in parallel.
  start_taskmanager
  JM_DEAD=0
  if ! wait_for "jobmanager" "$UP_TIMEOUT" jm_up || [ "$JM_DEAD" = 1 ]; then
    warn "the JobManager's REST API did not answer on http://127.0.0.1:$REST_PORT within ${UP_TIMEOUT}s; log:"
    tail -n 30 "$LOGS"/*standalonesession*.log 2>/dev/null >&2 || cat "$LOGS/jobmanager.out" >&2 || true
    # Free when need_port looked, taken before the JVM bound it (a test
    # package beside this one, CI 2026-12-04: "Could not start rest endpoint
    # on any port in port range ...").
    if grep -qs 'java.net.BindException' "$LOGS"/*standalonesession*.log; then
      port_taken "the JobManager could not bind port $REST_PORT or $RPC_PORT: another process took it; set FLINK_REST_PORT and FLINK_RPC_PORT"
    fi
    exit 1
  fi
  wait_taskmanager || exit 1
  if [ "$WANT_JOB_SERVER" = 1 ]; then
    local rc=0
    start_job_server || rc=$?
    case $rc in
      0) ;;
      2) missing+=("beam job server: $JOB_SERVER_COORDS not available (set BEAM_FLINK_JOB_SERVER_JAR)") ;;
      *) failed+=("beam job server") ;;
    esac
  fi
  if [ "$WANT_POOL" = 1 ]; then start_pool || failed+=("go worker pool"); fi
  set -- $(overview)
  say "up: Flink web UI http://127.0.0.1:$REST_PORT ($1 taskmanager, $2 slots); state in $STATE"
  local m
  for m in "${missing[@]}"; do warn "not started: $m"; done
  if [ ${#failed[@]} -gt 0 ]; then
    warn "failed to start: ${failed[*]}"
    exit 1
  fi
}

cmd_down() {
  local name
  for name in worker-pool job-server taskmanager jobmanager; do
    stop "$name"
  done
  if [ "$WANT_KAFKA" = 1 ] && [ -f "$BROKER" ]; then
    bash "$BROKER" stop || warn "deploy/kafka/broker.sh stop failed"
  fi
  say "down"
}

cmd_status() {
  local pid o rc=0
  pid=$(running jobmanager)
  o=$(overview)
  if [ -n "$pid" ]; then
    if [ -n "$o" ]; then
      set -- $o
      printf '%-16s running, pid %s, http://127.0.0.1:%s: %s taskmanager(s), %s/%s slots free, %s job(s) running\n' \
        jobmanager "$pid" "$REST_PORT" "$1" "$3" "$2" "$4"
    else
      printf '%-16s running, pid %s, REST API on :%s not answering (yet)\n' jobmanager "$pid" "$REST_PORT"
    fi
  else
    printf '%-16s not running\n' jobmanager
    rc=1
  fi
  pid=$(running taskmanager)
  if [ -n "$pid" ]; then printf '%-16s running, pid %s\n' taskmanager "$pid"; else printf '%-16s not running\n' taskmanager; rc=1; fi
  pid=$(running job-server)
  if [ -n "$pid" ]; then
    printf '%-16s running, pid %s, job service 127.0.0.1:%s, artifacts 127.0.0.1:%s\n' beam-job-server "$pid" "$JOB_PORT" "$ARTIFACT_PORT"
  elif job_server_fetched; then
    printf '%-16s not running\n' beam-job-server
  else
    printf '%-16s not running (no jar: %s)\n' beam-job-server "$JOB_SERVER_COORDS"
  fi
  pid=$(running worker-pool)
  if [ -n "$pid" ]; then printf '%-16s running, pid %s, port %s\n' go-worker-pool "$pid" "$POOL_PORT"; else printf '%-16s not running\n' go-worker-pool; fi
  if [ -f "$BROKER" ]; then
    printf '%-16s ' kafka
    bash "$BROKER" status || true
  else
    printf '%-16s no deploy/kafka/broker.sh\n' kafka
  fi
  return $rc
}

cmd_tm_kill() {
  local pid
  pid=$(running taskmanager)
  [ -n "$pid" ] || die "no taskmanager is running"
  kill -KILL "$pid"
  local i
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || break
    sleep 0.2
  done
  alive "$pid" && die "taskmanager (pid $pid) is still alive 10s after SIGKILL"
  rm -f "$(pidfile taskmanager)"
  say "taskmanager (pid $pid) killed with SIGKILL"
}

cmd_tm_start() {
  need_java
  need_python
  [ -n "$(running jobmanager)" ] || die "the jobmanager is not running: cluster.sh up"
  [ -f "$FLINK_HOME/.built-from" ] || die "Flink is not fetched: cluster.sh fetch"
  [ -z "$(running taskmanager)" ] || { say "taskmanager already running (pid $(running taskmanager))"; return; }
  # A killed TaskManager stays registered until the JobManager's heartbeat
  # gives up on it: wait for a new id, not for a count.
  local before
  before=$(tm_ids)
  start_taskmanager
  if ! wait_for "taskmanager" "$UP_TIMEOUT" new_tm "$before"; then
    warn "the new TaskManager did not register at http://127.0.0.1:$REST_PORT within ${UP_TIMEOUT}s; logs: $LOGS"
    exit 1
  fi
  say "taskmanager registered: $(set -- $(overview); echo "$1 taskmanager(s), $2 slots")"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  fetch-job-server) fetch_job_server || true ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  taskmanager-kill) cmd_tm_kill ;;
  taskmanager-start) cmd_tm_start ;;
  env)
    echo "FLINK_HOME=$FLINK_HOME"
    echo "FLINK_CONF_DIR=$CONF"
    ;;
  *)
    echo "usage: $0 {fetch|fetch-job-server|up|down|status|taskmanager-kill|taskmanager-start|env}" >&2
    exit 2
    ;;
esac
