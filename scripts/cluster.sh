#!/usr/bin/env bash
# Loopdesk scaled out on one laptop: a throwaway PostgreSQL, two workers and two app servers
# (http://127.0.0.1:8501 and :8502) sharing it. Ctrl-C stops everything and deletes the data.
#
#   bash scripts/cluster.sh            # needs Debian's postgresql (apt-get install -y postgresql)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="$(mktemp -d /tmp/loopdesk-cluster-XXXXXX)"
chmod 755 "$DIR"  # the postgres user must reach its data folder inside
PIDS=()
stop() {
  echo; echo "stopping…"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${PIDS[@]}" 2>/dev/null || true
  python -m tests.postgres_server stop "$DIR/pg"
}
trap stop EXIT INT TERM

URL="$(python -m tests.postgres_server start "$DIR/pg")"
export LOOPDESK_DB="$URL"
echo "PostgreSQL: $URL (data in $DIR/pg)"

serve() {  # serve PORT [ENV=VALUE…]: one app server, logging to $DIR/app-PORT.log
  local port="$1"; shift
  env "$@" python -m streamlit run app.py --server.headless true --server.address 127.0.0.1 \
    --server.port "$port" --browser.gatherUsageStats false >"$DIR/app-$port.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && return 0
    sleep 0.5
  done
  echo "the app server on port $port did not start; see $DIR/app-$port.log" >&2
  exit 1
}

# the first server installs the templates; the second starts once it has
serve 8501 LOOPDESK_WORKERS=0
serve 8502 LOOPDESK_WORKERS=0
for n in 1 2; do
  python -m engine worker --concurrency 4 >"$DIR/worker-$n.log" 2>&1 &
  PIDS+=($!)
done

cat <<INFO
Loopdesk cluster is up:
  app servers  http://127.0.0.1:8501  http://127.0.0.1:8502   (LOOPDESK_WORKERS=0: they drive nothing)
  workers      2 × python -m engine worker --concurrency 4    (they drive every run)
  logs         $DIR/*.log
Start a run on one server, decide it on the other; kill -9 a worker mid-run and watch the other
take over after its lease (LOOPDESK_LEASE_SECONDS, default 30 s). Ctrl-C stops everything.
INFO
wait
