#!/usr/bin/env bash
# The browser tier N times in a row (default 5), each while `stress --cpu 2` keeps both cores busy: a
# flaky browser test shows here long before it stops a CI run on a busy machine. Prints one line per
# run and the failed tests; logs and server folders go to ${OUT:-/tmp/browser-under-load}/runN.
# Needs Debian's `stress` (apt-get install -y stress) and what scripts/test.sh installs.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
out=${OUT:-/tmp/browser-under-load}
command -v stress >/dev/null || { echo "needs stress: apt-get install -y stress" >&2; exit 1; }
mkdir -p "$out"
failed_runs=0
for i in $(seq 1 "$runs"); do
  rm -rf "$out/run$i"
  stress --cpu 2 --timeout 1800 >/dev/null 2>&1 &
  spinner=$!
  started=$(date +%s)
  python -m pytest -q -p no:cacheprovider -m "browser and not realmodel" --basetemp="$out/run$i" \
    > "$out/run$i.log" 2>&1
  code=$?
  kill "$spinner" 2>/dev/null
  pkill -P "$spinner" 2>/dev/null
  wait "$spinner" 2>/dev/null
  echo "run $i: $(grep -E '[0-9]+ (passed|failed)' "$out/run$i.log" | tail -1) ($(($(date +%s) - started)) s)"
  grep '^FAILED' "$out/run$i.log"
  [ "$code" = 0 ] || failed_runs=$((failed_runs + 1))
done
echo "$failed_runs of $runs runs had a failure"
[ "$failed_runs" = 0 ]
