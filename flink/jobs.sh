#!/usr/bin/env bash
# Lists or cancels Flink jobs by name through the JobManager's REST API
# (FLINK_REST, default http://127.0.0.1:8081): the same for the Docker
# Compose stack, which publishes 8081 on loopback, and for the local cluster
# of flink/cluster.
#
#   flink/jobs.sh running [NAME]   running jobs as "<job id> <name>", only
#                                  those whose name starts with NAME if given
#   flink/jobs.sh cancel NAME      cancel every running job whose name starts
#                                  with NAME
#   flink/jobs.sh stop NAME        take a savepoint of the running job whose
#                                  name starts with NAME, cancel it, and print
#                                  the savepoint's path: resubmit with
#                                  SAVEPOINT=<path> to go on from it
#   flink/jobs.sh state NAME       the state of the running job whose name
#                                  starts with NAME, per stage, in its latest
#                                  completed checkpoint: bytes, then the
#                                  stage; run it now and then to see which
#                                  stage grows (docs/local-cluster.md)
#
# Names are matched by prefix because the Flink job name is derived from the
# Beam --job_name and the job server may decorate it.
set -euo pipefail
FLINK_REST=${FLINK_REST:-http://127.0.0.1:8081}

running() {
  local body
  if ! body=$(curl -fsS --max-time 10 "$FLINK_REST/jobs/overview"); then
    echo "jobs: no Flink REST API at $FLINK_REST (is the cluster up? set FLINK_REST)" >&2
    return 1
  fi
  # {"jobs":[{"jid":"…","name":"…","state":"RUNNING",…},…]}
  python3 -c '
import json, sys
prefix = sys.argv[1]
for j in json.load(sys.stdin)["jobs"]:
    if j["state"] in ("RUNNING", "RESTARTING", "CREATED", "INITIALIZING") and j["name"].startswith(prefix):
        print(j["jid"], j["name"])
' "${1:-}" <<<"$body"
}

# one_job VERB NAME sets id and job to the one running job whose name starts
# with NAME, or fails: stop and state act on exactly one job.
one_job() {
  local jobs
  jobs=$(running "$2")
  if [ "$(printf '%s\n' "$jobs" | grep -c .)" != 1 ]; then
    echo "$1: want exactly one running job named $2*, have: ${jobs:-none}" >&2
    exit 1
  fi
  read -r id job <<<"$jobs"
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
      curl -fsS --max-time 30 -X PATCH "$FLINK_REST/jobs/$id?mode=cancel" >/dev/null
    done
    ;;
  stop)
    one_job stop "${2:?usage: jobs.sh stop NAME}"
    echo "stop: savepoint of $job ($id), then cancel" >&2
    # Savepoint with cancel-job rather than stop-with-savepoint: Beam's
    # Impulse-driven sources never finish, which a stop would wait for.
    trigger=$(curl -fsS --max-time 30 -X POST -H 'Content-Type: application/json' \
      -d '{"cancel-job": true}' "$FLINK_REST/jobs/$id/savepoints")
    rid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["request-id"])' <<<"$trigger")
    for _ in $(seq 1 600); do
      status=$(curl -fsS --max-time 10 "$FLINK_REST/jobs/$id/savepoints/$rid")
      out=$(python3 -c '
import json, sys
s = json.load(sys.stdin)
if s["status"]["id"] != "COMPLETED":
    print("IN_PROGRESS")
elif "location" in s.get("operation", {}):
    print("OK " + s["operation"]["location"])
else:
    print("FAILED " + s.get("operation", {}).get("failure-cause", {}).get("class", "?"))
' <<<"$status")
      case "$out" in
        OK\ *) echo "${out#OK }"; exit 0 ;;
        FAILED\ *) echo "stop: savepoint failed: ${out#FAILED }" >&2; exit 1 ;;
      esac
      sleep 0.5
    done
    echo "stop: savepoint $rid not done after 5 minutes" >&2
    exit 1
    ;;
  state)
    one_job state "${2:?usage: jobs.sh state NAME}"
    cps=$(curl -fsS --max-time 10 "$FLINK_REST/jobs/$id/checkpoints")
    cp=$(python3 -c '
import json, sys
c = (json.load(sys.stdin).get("latest") or {}).get("completed")
print(c["id"] if c else "")' <<<"$cps")
    if [ -z "$cp" ]; then
      echo "state: $job has no completed checkpoint yet" >&2
      exit 1
    fi
    vertices=$(curl -fsS --max-time 10 "$FLINK_REST/jobs/$id")
    details=$(curl -fsS --max-time 10 "$FLINK_REST/jobs/$id/checkpoints/details/$cp")
    python3 -c '
import json, sys
names = {v["id"]: v["name"] for v in json.loads(sys.argv[1])["vertices"]}
d = json.loads(sys.argv[2])
print("checkpoint %d: %d bytes" % (d["id"], d["state_size"]))
for vid, t in sorted(d["tasks"].items(), key=lambda kv: -kv[1].get("state_size", 0)):
    print("%12d  %s" % (t.get("state_size", 0), names.get(vid, vid)))
' "$vertices" "$details"
    ;;
  *)
    echo "usage: $0 running [NAME] | cancel NAME | stop NAME | state NAME" >&2
    exit 2
    ;;
esac
