#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (`swift test`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test "$@"
