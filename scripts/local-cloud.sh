#!/usr/bin/env bash
# The relay as Cloud Run runs it, on this machine: the real Pub/Sub emulator with the topics and the
# events subscription, then forward and ingest as functions-framework processes. By default forward
# drains a pull subscription, called by a stand-in for Cloud Scheduler every
# $CAPI_LOCAL_DRAIN_INTERVAL seconds (60, as the deployed job); CAPI_LOCAL_DELIVERY=push makes it a
# push subscription instead (Terraform's delivery = "push").
#
#   scripts/local-cloud.sh start    start everything in the background, print where it is
#   scripts/local-cloud.sh stop     stop everything it started (the emulator's Java process too)
#
# Without CAPI_ACCESS_TOKEN the forwarder runs as a dry run (CAPI_DRY_RUN=true): it prints each
# payload it would POST to Meta into the forward log and sends nothing. With CAPI_ACCESS_TOKEN
# (and CAPI_GRAPH_URL for a stand-in) it delivers. Logs and process ids go to $CAPI_LOCAL_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${CAPI_LOCAL_DIR:-.local-cloud}
EMULATOR_PORT=${CAPI_LOCAL_EMULATOR_PORT:-8085}
FORWARD_PORT=${CAPI_LOCAL_FORWARD_PORT:-8081}
INGEST_PORT=${CAPI_LOCAL_INGEST_PORT:-8080}
PROJECT=${CAPI_LOCAL_PROJECT:-capi-local}
DELIVERY=${CAPI_LOCAL_DELIVERY:-drain}
DRAIN_INTERVAL=${CAPI_LOCAL_DRAIN_INTERVAL:-60}
BIN=.venv/bin

wait_for() {  # wait_for NAME URL-or-port: until it answers, or say why not
  local name=$1 target=$2
  for _ in $(seq 1 300); do
    if "$BIN/python" - "$target" 2>/dev/null <<'EOF'; then return 0; fi
import socket, sys, urllib.request
target = sys.argv[1]
if target.isdigit():
    socket.create_connection(("127.0.0.1", int(target)), timeout=1).close()
else:
    urllib.request.urlopen(target, timeout=1)
EOF
    sleep 0.2
  done
  echo "local-cloud: $name did not start; see $DIR/$name.log" >&2
  tail -n 20 "$DIR/$name.log" >&2 || true
  stop
  exit 1
}

launch() {  # launch NAME COMMAND...: in its own process group, so stop ends all of it
  local name=$1
  shift
  setsid "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

start() {
  [ -x "$BIN/functions-framework" ] || make "$BIN/capi"
  command -v gcloud >/dev/null || { echo "local-cloud: gcloud (with the Pub/Sub emulator) is needed" >&2; exit 1; }
  case "$DELIVERY" in
    drain | push) ;;
    *) echo "local-cloud: CAPI_LOCAL_DELIVERY must be drain or push, not $DELIVERY" >&2; exit 2 ;;
  esac
  mkdir -p "$DIR"
  launch emulator gcloud beta emulators pubsub start --host-port="127.0.0.1:$EMULATOR_PORT" \
    --project="$PROJECT" --quiet
  wait_for emulator "$EMULATOR_PORT"
  export PUBSUB_EMULATOR_HOST="127.0.0.1:$EMULATOR_PORT"
  local drain_env=()
  if [ "$DELIVERY" = drain ]; then
    "$BIN/capi" emulator-setup --project "$PROJECT" --drain >"$DIR/setup.log"
    drain_env=(CAPI_DRAIN_SUBSCRIPTION="projects/$PROJECT/subscriptions/capi-events-drain")
  else
    "$BIN/capi" emulator-setup --project "$PROJECT" \
      --push-endpoint "http://127.0.0.1:$FORWARD_PORT/" >"$DIR/setup.log"
  fi
  local dry_run=false
  [ -n "${CAPI_ACCESS_TOKEN:-}${CAPI_ACCESS_TOKEN_SECRET:-}" ] || dry_run=true
  launch forward env CAPI_DRY_RUN="$dry_run" CAPI_PIXEL_ID="${CAPI_PIXEL_ID:-123}" \
    CAPI_DLQ_TOPIC="projects/$PROJECT/topics/capi-events-dlq" "${drain_env[@]}" \
    "$BIN/functions-framework" --source main.py --target forward --host 127.0.0.1 --port "$FORWARD_PORT"
  launch ingest env CAPI_PIXEL_ID="${CAPI_PIXEL_ID:-123}" CAPI_API_KEYS="${CAPI_API_KEYS:-dev-key}" \
    CAPI_TOPIC="projects/$PROJECT/topics/capi-events" \
    "$BIN/functions-framework" --source main.py --target ingest --host 127.0.0.1 --port "$INGEST_PORT"
  wait_for forward "http://127.0.0.1:$FORWARD_PORT/healthz"
  wait_for ingest "http://127.0.0.1:$INGEST_PORT/healthz"
  if [ "$DELIVERY" = drain ]; then
    # Cloud Scheduler's stand-in: POST /drain on the interval, as the deployed job does.
    launch scheduler "$BIN/python" -c '
import sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
while True:
    time.sleep(interval)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=600) as r:
            print(r.status, r.read().decode()[:300], flush=True)
    except OSError as exc:
        print("drain call failed:", exc, flush=True)
' "http://127.0.0.1:$FORWARD_PORT/drain" "$DRAIN_INTERVAL"
  fi
  echo "local-cloud: emulator 127.0.0.1:$EMULATOR_PORT, forward :$FORWARD_PORT (dry run: $dry_run, delivery: $DELIVERY), ingest http://127.0.0.1:$INGEST_PORT/events"
  [ "$DELIVERY" = push ] || echo "local-cloud: a drain every ${DRAIN_INTERVAL}s (CAPI_LOCAL_DRAIN_INTERVAL); now: curl -X POST http://127.0.0.1:$FORWARD_PORT/drain"
  echo "local-cloud: logs in $DIR/{emulator,forward,ingest,scheduler}.log; stop with scripts/local-cloud.sh stop"
}

stop() {
  for name in scheduler ingest forward emulator; do
    local file="$DIR/$name.pid"
    [ -f "$file" ] || continue
    local pid
    pid=$(cat "$file")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$file"
  done
  echo "local-cloud: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/local-cloud.sh start|stop" >&2; exit 2 ;;
esac
