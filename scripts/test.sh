#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite
# (browser tests included: they drive Debian's Chromium and never skip).
set -euo pipefail
cd "$(dirname "$0")/.."

# llama-cpp-python (the real-model tests) is built from source: it needs a C/C++ compiler
if ! command -v g++ >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null
  else
    echo "The real-model tests build llama-cpp-python: sudo apt-get install -y build-essential" >&2
    exit 1
  fi
fi

# llama.cpp is built portable (AVX2, no -march=native): a native build on a CPU that lists AMX but whose
# kernel does not grant it dies with "invalid opcode" at the first answer
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

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

echo "== ruff"; ruff check . && ruff format --check .
# the pre-commit hooks must run the ruff this script runs, or a commit passes one and fails the other
ruff_pin=$(sed -n 's/^ruff==\([^ ]*\).*/\1/p' requirements-dev.txt)
hook_rev=$(grep -A1 'astral-sh/ruff-pre-commit' .pre-commit-config.yaml | sed -n 's/^ *rev: v//p' || true)
if [ "$ruff_pin" != "$hook_rev" ]; then
  echo "ruff is $ruff_pin in requirements-dev.txt but v$hook_rev in .pre-commit-config.yaml" >&2
  exit 1
fi
echo "== mypy"; mypy
echo "== pytest"; python -m pytest -q -p no:cacheprovider "$@"
