#!/usr/bin/env bash
# Install everything the tests need, then run the checks and the whole suite in tiers, quickest first,
# stopping at the first tier that fails (browser tests included: they drive Debian's Chromium and never skip):
#   tier 1  lint, types, unit and AppTest   ruff, ruff format, mypy; every test not in a later tier
#   tier 2  PostgreSQL and processes        tests marked `postgres` or `processes` (tests/conftest.py)
#   tier 3  browser                         tests/browser (marked `browser`)
#   tier 4  real model                      tests/realmodel (marked `realmodel`)
# Arguments go to pytest in every tier, e.g. `bash scripts/test.sh -x -k inbox`; a tier they leave with
# no test passes. The tiers are picked with -m, so select with -k or paths rather than -m.
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case "$arg" in
    -m | -m* | --markexpr*)
      echo "scripts/test.sh picks each tier's tests with -m: select with -k or test paths instead" >&2
      exit 2
      ;;
  esac
done

# llama-cpp-python (the real-model tests) is built from source: it needs a C/C++ compiler
if ! command -v g++ >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null
  else
    echo "The real-model tests build llama-cpp-python: sudo apt-get install -y build-essential" >&2
    exit 1
  fi
fi

# A line every 30 s while pip works: the first install builds llama-cpp-python from source, minutes
# in which pip --quiet prints nothing
tick() {
  local started nap=""
  started=$(date +%s)
  trap 'if [ -n "$nap" ]; then kill "$nap" 2>/dev/null; fi; exit 0' TERM
  while true; do
    sleep 30 &
    nap=$!
    wait "$nap"
    echo "   ... still installing ($(($(date +%s) - started)) s)"
  done
}

# llama.cpp is built portable (AVX2, no -march=native): a native build on a CPU that lists AMX but whose
# kernel does not grant it dies with "invalid opcode" at the first answer
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
echo "== pip install -r requirements-dev.txt (the first time builds llama-cpp-python: minutes)"
tick &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
trap - EXIT

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Browser tests need Debian's Chromium: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi

# PostgreSQL tests start their own throwaway server from Debian's package (never skipped)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL tests need Debian's postgresql: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
fi

# Each test runs in exactly one tier: the four selections below split the suite with nothing left over
# or run twice (the markers are set in tests/conftest.py, tests/api/conftest.py, tests/browser/conftest.py,
# tests/realmodel/conftest.py and on the tests that start processes)
TIER1="not (postgres or processes or browser or realmodel)"
TIER2="(postgres or processes) and not (browser or realmodel)"
TIER3="browser and not realmodel"
TIER4="realmodel"

pytest_args=("$@")
tier=0
tier_name=""
tier_started=0
passed=""

begin_tier() {
  tier=$1
  tier_name=$2
  tier_started=$(date +%s)
  echo
  echo "== tier $tier: $tier_name"
}

failed() {
  echo
  echo "FAILED in tier $tier ($tier_name): $1, after $(($(date +%s) - tier_started)) s"
  if [ -n "$passed" ]; then
    echo "passed before it: $passed"
  fi
  exit 1
}

end_tier() {
  local took=$(($(date +%s) - tier_started))
  passed="${passed:+$passed, }tier $tier in $took s"
  echo "== tier $tier ($tier_name) passed in $took s"
}

check() {
  local what=$1
  shift
  echo "-- $what"
  "$@" || failed "$what"
}

# pytest exits 5 when the selection holds no test (e.g. -k matched none in this tier): that passes
run_tests() {
  local code=0
  echo "-- pytest -m \"$1\""
  python -m pytest -q -p no:cacheprovider -m "$1" "${pytest_args[@]}" || code=$?
  if [ "$code" = 5 ]; then
    echo "(no test of this tier is selected)"
  elif [ "$code" != 0 ]; then
    failed "pytest"
  fi
}

# the pre-commit hooks must run the ruff this script runs, or a commit passes one and fails the other
ruff_pins_agree() {
  local pin rev
  pin=$(sed -n 's/^ruff==\([^ ]*\).*/\1/p' requirements-dev.txt)
  rev=$(grep -A1 'astral-sh/ruff-pre-commit' .pre-commit-config.yaml | sed -n 's/^ *rev: v//p' || true)
  if [ "$pin" != "$rev" ]; then
    echo "ruff is $pin in requirements-dev.txt but v$rev in .pre-commit-config.yaml" >&2
    return 1
  fi
}

begin_tier 1 "lint, types, unit and AppTest"
check "ruff check" ruff check .
check "ruff format --check" ruff format --check .
check "pre-commit's ruff is requirements-dev.txt's" ruff_pins_agree
check "mypy" mypy
run_tests "$TIER1"
end_tier

begin_tier 2 "PostgreSQL and processes"
run_tests "$TIER2"
end_tier

begin_tier 3 "browser"
run_tests "$TIER3"
end_tier

begin_tier 4 "real model"
run_tests "$TIER4"
end_tier

echo
echo "All 4 tiers passed: $passed"
