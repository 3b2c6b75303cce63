#!/usr/bin/env bash
# The test command: installs what is missing, checks the Cosmos DB stand-in against
# Microsoft's SDK (scripts/cosmos-sdk-oracle.sh), starts the project's PostgreSQL + pgvector
# server (unless ENGRAM_POSTGRES_URL points at one), runs every test (`swift test`), and
# stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/cosmos-sdk-oracle.sh
if [ -z "${ENGRAM_POSTGRES_URL:-}" ]; then
  ENGRAM_POSTGRES_URL="$(scripts/postgres.sh start)"
  export ENGRAM_POSTGRES_URL
  trap 'scripts/postgres.sh stop' EXIT
fi
swift build --build-tests
swift test "$@"
