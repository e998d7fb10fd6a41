#!/usr/bin/env bash
# build.sh LIB_DIR OUT_JAR: builds our fix of apache/beam#27648 for Beam
# 2.62.0's Flink job server into OUT_JAR, compiled against the job server's
# jars in LIB_DIR. Put OUT_JAR before them on the job server's class path;
# the runner stages the class path to the TaskManagers in that order.
#
# The one build of the patch: flink/cluster/cluster.sh runs it for the
# local cluster (against the jars it resolves with ../pom.xml), and the
# Dockerfile's job-server-patch stage for the Compose stack's job server
# image, the same way.
#
# Steps: resolve the 2.62.0 sources jars of the three classes (pom.xml here,
# checksums enforced), unpack those three files, edit them (patch.py, which
# refuses sources it does not recognise), compile them as Java 8 class
# files, as Beam's own.
#
# Environment: MVN (mvn), PYTHON (python3), JAVAC (javac on PATH); the jar
# tool beside JAVAC.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# = 2 ] || { echo "usage: $0 LIB_DIR OUT_JAR" >&2; exit 2; }
lib=$1
out=$2
MVN=${MVN:-mvn}
PYTHON=${PYTHON:-python3}
JAVAC=${JAVAC:-$(command -v javac || true)}

fail() {
  echo "residual patch: $*" >&2
  exit 1
}

[ -n "$JAVAC" ] && [ -x "$JAVAC" ] || fail "javac not found (it needs a JDK; set JAVAC or JAVA_HOME)"
jar=$(dirname "$JAVAC")/jar
[ -x "$jar" ] || fail "no jar tool beside $JAVAC"
[ -d "$lib" ] || fail "no job server jars in $lib"

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/classes"

# -C: fail on a checksum mismatch instead of warning.
if ! "$MVN" -q -B -C -f "$here/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$work/sources" >"$work/mvn.log" 2>&1; then
  tail -n 15 "$work/mvn.log" >&2 || true
  fail "Maven could not resolve the sources to patch"
fi

fnexec=("$work"/sources/beam-runners-java-fn-execution-*-sources.jar)
flink=("$work"/sources/beam-runners-flink-*-sources.jar)
[ "${#fnexec[@]}" = 1 ] && [ -f "${fnexec[0]}" ] && [ "${#flink[@]}" = 1 ] && [ -f "${flink[0]}" ] ||
  fail "Maven did not give one sources jar of each runner (have: $(ls "$work/sources"))"
(cd "$work/src" &&
  "$jar" xf "${fnexec[0]}" org/apache/beam/runners/fnexecution/control/BundleCheckpointHandlers.java &&
  "$jar" xf "${flink[0]}" \
    org/apache/beam/runners/flink/translation/wrappers/streaming/ExecutableStageDoFnOperator.java \
    org/apache/beam/runners/flink/translation/functions/FlinkExecutableStageFunction.java) ||
  fail "cannot unpack the sources to patch"
mapfile -t sources < <(find "$work/src" -name '*.java')
[ "${#sources[@]}" = 3 ] || fail "the sources jars lack a file to patch"

"$PYTHON" "$here/patch.py" "$work/src"

# Java 8 class files, as Beam's own; -proc:none: no annotation processors.
if ! "$JAVAC" -nowarn --release 8 -proc:none -cp "$lib/*" -d "$work/classes" \
  "${sources[@]}" >"$work/javac.log" 2>&1; then
  tail -n 15 "$work/javac.log" >&2 || true
  fail "the edited sources do not compile against $lib"
fi
"$jar" cf "$out.tmp" -C "$work/classes" .
mv "$out.tmp" "$out"
