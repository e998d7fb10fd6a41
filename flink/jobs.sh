#!/usr/bin/env bash
# Lists or cancels Flink jobs of the Docker Compose stack by name, with the
# Flink CLI inside the jobmanager container (no Flink install on the host).
#
#   flink/jobs.sh running [NAME]   running jobs as "<job id> <name>", only
#                                  those whose name starts with NAME if given
#   flink/jobs.sh cancel NAME      cancel every running job whose name starts
#                                  with NAME
#
# Names are matched by prefix because the Flink job name is derived from the
# Beam --job_name and the job server may decorate it.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE=${COMPOSE:-docker compose}

running() {
  # "flink list -r" prints "<date> <time> : <job id> : <name> (<STATE>)".
  $COMPOSE exec -T jobmanager flink list -r 2>/dev/null |
    sed -n 's/^.* : \([0-9a-f]\{32\}\) : \(.*\) (\(RUNNING\|RESTARTING\|CREATED\|INITIALIZING\))$/\1 \2/p' |
    awk -v prefix="${1:-}" 'index($2, prefix) == 1'
}

case "${1:-}" in
  running)
    running "${2:-}"
    ;;
  cancel)
    name=${2:?usage: jobs.sh cancel NAME}
    jobs=$(running "$name")
    if [ -z "$jobs" ]; then
      echo "cancel: no running job named $name*"
      exit 0
    fi
    echo "$jobs" | while read -r id job; do
      echo "cancel: $job ($id)"
      $COMPOSE exec -T jobmanager flink cancel "$id"
    done
    ;;
  *)
    echo "usage: $0 running [NAME] | cancel NAME" >&2
    exit 2
    ;;
esac
