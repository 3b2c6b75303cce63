#!/usr/bin/env bash
# The workload figures (docs/workloads.md): recall against QPS for PostgreSQL's HNSW on
# clustered and on uniform vectors, the runbooks on sqlite and postgres, the tenant and filter
# sweeps on every backend, the concurrency sweep, and a run on an imported .fvecs file. Writes results/workloads/.
# About 45 minutes on 2 cores; `scripts/workloads.sh PART` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/workloads
source scripts/parts.sh "$@"

if run recall; then
  $bin bench --backend postgres --scenario recall --output "$out/recall-clustered"
  $bin bench --backend sqlite --scenario recall --output "$out/recall-clustered"
  $bin bench --backend postgres --scenario recall --vectors uniform --output "$out/recall-uniform"
fi
if run runbook; then
  for b in sqlite postgres; do $bin bench --backend "$b" --scenario runbook --output "$out/runbook"; done
fi
if run sweeps; then
  for b in sqlite postgres; do $bin bench --backend "$b" --scenario tenants --scenario filter --output "$out/sweeps"; done
  # The file store ranks in plain Swift: a fifth of the size. The Cosmos DB stand-in ranks
  # in pure Python (about a second per query at 20k): 2,000 records and 50 queries per point,
  # enough to check its filters and recall, not a model of Cosmos DB's speed.
  $bin bench --backend files --scenario tenants --scenario filter --filter-size 20000 --tenant-size 20000 --output "$out/sweeps-20k"
  $bin bench --backend cosmos --scenario tenants --scenario filter --filter-size 2000 --tenant-size 2000 --tenant-counts 1 100 1000 \
    --queries 50 --output "$out/sweeps-cosmos-2k"
fi
if run concurrency; then
  # 1/2/4/8 client threads on one store, the 90/10 mix, and readers beside a writer at
  # 100 saves/s; the file store at a fifth of the size (it ranks in plain Swift).
  for b in sqlite postgres; do $bin bench --backend "$b" --scenario concurrency --output "$out/concurrency"; done
  $bin bench --backend files --scenario concurrency --concurrency-size 20000 --output "$out/concurrency-20k"
fi
if run fvecs; then
  # A Texmex-format file: 21,000 vectors of 128 dimensions from a Gaussian mixture, the last
  # 1,000 held out as queries; Engram reads it, fingerprints it, and measures on the other 20,000.
  tmp=$(mktemp -d)
  python3 - "$tmp/mixture-128.fvecs" <<'PY'
import random, struct, sys
rng = random.Random(13)
centres = [[rng.gauss(0, 1) for _ in range(128)] for _ in range(50)]
with open(sys.argv[1], "wb") as f:
    for i in range(21000):
        c = centres[rng.randrange(50)]
        f.write(struct.pack("<i", 128) + struct.pack("<128f", *[x + rng.gauss(0, 0.6) for x in c]))
PY
  $bin bench --backend sqlite --vectors "$tmp/mixture-128.fvecs" --scenario search --scenario recall --search-sizes 20000 --recall-size 20000 --output "$out/fvecs"
  $bin bench --backend postgres --vectors "$tmp/mixture-128.fvecs" --scenario recall --recall-size 20000 --output "$out/fvecs"
  rm -rf "$tmp"
fi
