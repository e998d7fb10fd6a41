#!/usr/bin/env bash
# Entrypoint wrapper for the jobmanager and taskmanager containers.
#
# It runs as root (the Flink image drops to the flink user in its own
# entrypoint), installs trendstream's config.yaml in place of the image's
# default and makes the shared checkpoint volume writable by the flink user:
# a fresh named volume is owned by root, and checkpoints would fail with
# "permission denied" the first time they are taken.
set -euo pipefail
cp /opt/trendstream/flink-conf/config.yaml /opt/flink/conf/config.yaml
mkdir -p /flink-data/checkpoints /flink-data/savepoints
chown flink:flink /flink-data /flink-data/checkpoints /flink-data/savepoints
exec /docker-entrypoint.sh "$@"
