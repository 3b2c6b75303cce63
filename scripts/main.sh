#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, runs the conformance
# suite and the benchmarks on the embedded default backend (SQLite + FAISS), writes the
# reports to results/, and checks the run against the committed baseline.
#   scripts/main.sh            full sizes (about 4 minutes on 2 cores)
#   scripts/main.sh --quick    the CI preset (about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product engram
engram=".build/release/engram"
"$engram" conform --backend sqlite --output results
"$engram" bench --backend sqlite --output results "$@"
"$engram" gate --run results/bench-sqlite-manifest.json
