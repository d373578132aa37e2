#!/usr/bin/env bash
# Runs Roomhub's k6 scripts against a local server: each limit script gets a
# fresh server (rate limits count per minute or hour in process, so a fresh
# process starts every budget at zero), on loopback, with a throwaway
# DATA_DIR. Fails when any k6 threshold fails. Usage: scripts/load.sh [script...]
set -euo pipefail
cd "$(dirname "$0")/.."

K6="${K6:-.cache/k6/bin/k6}"
K6_VERSION=v1.8.1
PORT="${LOAD_PORT:-18080}"
BASE="http://127.0.0.1:${PORT}"
export K6_NO_USAGE_REPORT=true

if [[ ! -x "$K6" ]] || ! "$K6" version 2>/dev/null | grep -q "${K6_VERSION}"; then
  echo "load: building k6 ${K6_VERSION} into .cache/k6/bin (about 3 minutes, once)"
  GOBIN="$PWD/.cache/k6/bin" go install "go.k6.io/k6@${K6_VERSION}"
fi
make -s build

server_pid=""
data=""
stop() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n "$data" ]]; then rm -rf "$data"; fi
  server_pid="" data=""
}
trap stop EXIT

start() {
  # Another server on the port would answer /readyz for ours and take the load.
  if curl -fsS -m 1 "${BASE}/readyz" >/dev/null 2>&1; then
    echo "load: something already answers on ${BASE}; set LOAD_PORT"; exit 1
  fi
  data="$(mktemp -d)"
  DEBUG=true ADDR="127.0.0.1:${PORT}" DATA_DIR="$data" METRICS_ADDR=off LOG_LEVEL=warn \
    TRUSTED_PROXIES=127.0.0.1/32 MAX_ROOM_MEMBERS=500 \
    AGORA_APP_ID=970ca35de60c44645bbae8a215061b33 AGORA_APP_CERTIFICATE=5cfd2fd1755d40ecb72977518be15d3b \
    bin/roomhub serve >"$data/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if curl -fsS "${BASE}/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "load: the server did not become ready:"; cat "$data/server.log"; exit 1
}

scripts=("$@")
if [[ ${#scripts[@]} -eq 0 ]]; then
  scripts=(get_token create_member get_member delete_member websocket login api presence)
fi
failed=0
for s in "${scripts[@]}"; do
  start
  env_args=(-e "BASE=${BASE}")
  if [[ "$s" == api ]]; then
    key="$(DEBUG=true DATA_DIR="$data" bin/roomhub apikey create --org default --name k6)"
    env_args+=(-e "API_KEY=${key}")
  fi
  echo "load: k6 ${s}"
  if ! "$K6" run --no-usage-report --quiet "${env_args[@]}" "k6/${s}.js"; then
    echo "load: ${s} FAILED"
    failed=1
  fi
  stop
done
exit "$failed"
