#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, runs the conformance
# suite on the embedded default backend (SQLite + FAISS), writing reports to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product engram
engram=".build/release/engram"
"$engram" conform --backend sqlite --output results
