#!/usr/bin/env bash
# Healthcheck for the Flink containers, which have bash but no curl or wget:
# GET http://127.0.0.1:PORT/PATH over bash's /dev/tcp and succeed when the
# response contains PATTERN.
#
#   http-check.sh 8081 /overview '"flink-version"'
#   http-check.sh 9249 /metrics flink_taskmanager_Status_JVM
set -euo pipefail
port=$1 path=$2 pattern=$3
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
grep -q -- "$pattern" <&3
