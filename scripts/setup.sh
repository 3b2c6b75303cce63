#!/usr/bin/env bash
# Installs what Engram builds against, when missing: Debian's C libraries (FAISS, BLAS,
# LAPACK, SQLite, libpq, libcurl, jemalloc), pkg-config and Python with venv. Safe to run again.
set -euo pipefail
packages=(libfaiss-dev libblas-dev liblapack-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev libssl-dev libhdf5-dev libjemalloc-dev pkg-config unzip python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (Engram needs Swift 6.1 or later)" >&2; exit 1; }
