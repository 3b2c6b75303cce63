#!/usr/bin/env bash
# A/B comparison of this checkout's build with another commit's (default: the parent), on
# this machine: builds the base in a scratch clone, then `engram ab` (docs/benchmarks.md).
# Usage: scripts/ab.sh [BASE_REF] [engram ab options...]. Skips (exit 0, with a notice) when
# there is no such commit, its build has no `hotpaths` scenario to compare, or it measures
# the hot paths another way (`engram ab` exit 6).
set -euo pipefail
cd "$(dirname "$0")/.."
ref=HEAD~1
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  ref=$1
  shift
fi
if ! base_sha=$(git rev-parse --verify --quiet "$ref^{commit}"); then
  echo "ab: no commit $ref to compare with; skipped"
  exit 0
fi
swift build -c release --product engram >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --no-checkout . "$work/base"
git -C "$work/base" checkout -q "$base_sha"
echo "ab: building the base ${base_sha:0:12} in $work/base"
(cd "$work/base" && swift build -c release --product engram >/dev/null)
base_bin="$work/base/.build/release/engram"
# The help is read whole before it is searched: `grep -q` would stop reading at the first
# match, and under pipefail the writer's SIGPIPE made the check fail at random (on a busy
# machine the A/B step was skipped for a base that has the scenario).
base_help=$("$base_bin" bench --help)
if ! grep -q hotpaths <<<"$base_help"; then
  echo "ab: the base ${base_sha:0:12} has no hotpaths scenario; skipped"
  exit 0
fi
rc=0
.build/release/engram ab --baseline "$base_bin" --candidate .build/release/engram "$@" || rc=$?
# 6: the base measures the hot paths another way (its figures are not comparable): skipped.
if [ "$rc" -eq 6 ]; then
  echo "ab: the base ${base_sha:0:12} measures the hot paths differently; skipped"
  exit 0
fi
exit "$rc"
