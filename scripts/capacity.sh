#!/usr/bin/env bash
# The capacity-planning figures (docs/capacity.md): `engram plan --validate` on sqlite at 1M
# outcomes and on postgres at 200k (calibrated up to a tenth), and an example plan for 10M
# memories of 1,536 dimensions on sqlite, postgres and the Cosmos DB stand-in. Writes
# results/plan/. About 25 minutes on 2 cores; `scripts/capacity.sh PART` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/plan
source scripts/parts.sh "$@"

if run validate; then
  $bin plan --backend sqlite --records 1000000 --validate --budget 300 --output "$out/validate-sqlite-1m"
  # One regime per plan: the default configuration switches from exact ranking to HNSW at
  # 20,000 matches, so the calibration (up to 20k) and the target (200k) would differ.
  $bin plan --backend postgres:hnsw --records 200000 --validate --budget 300 --output "$out/validate-postgres-200k"
fi
if run example; then
  $bin plan --backend sqlite --backend postgres:exact --backend postgres:hnsw --backend cosmos \
    --records 10000000 --dimension 1536 --projects 20 --search-rate 50 --write-rate 20 --slo-p95-ms 50 \
    --disk-price 0.10 --machine-price 0.19 --cosmos-price 0.008 --budget 120 --output "$out/example-10m-1536"
fi
