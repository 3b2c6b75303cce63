#!/usr/bin/env bash
# Runs the review's findings on the original (alma-memory 0.4.0 and 0.11.0, SQLite and file
# storage, through adapters/alma_adapter.py) next to Engram's backends, into results/findings/.
# The alma file stores rewrite their whole JSON file on every save, so they are judged by the
# scenarios only (a 20,000-record slice would take hours). About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${RECORDS:-20000}"
a4="$(scripts/alma.sh 0.4.0)"
a11="$(scripts/alma.sh 0.11.0)"
swift build -c release --product engram >&2
exec .build/release/engram findings \
  --backend sqlite --backend files --backend postgres --backend cosmos \
  --external "alma-0.4.0-sqlite=$a4 adapters/alma_adapter.py --storage sqlite" \
  --external "alma-0.11.0-sqlite=$a11 adapters/alma_adapter.py --storage sqlite" \
  --external "alma-0.4.0-files=$a4 adapters/alma_adapter.py --storage files" \
  --external "alma-0.11.0-files=$a11 adapters/alma_adapter.py --storage files" \
  --scenarios-only cosmos --scenarios-only alma-0.4.0-files --scenarios-only alma-0.11.0-files \
  --records "$records" --timeout 120 --output results/findings "$@"
