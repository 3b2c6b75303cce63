#!/usr/bin/env bash
# A virtualenv holding the original Python project, PyPI `alma-memory`, at one version, for
# adapters/alma_adapter.py (docs/alma.md).
#   scripts/alma.sh VERSION      e.g. 0.4.0 or 0.11.0; prints the venv's python on stdout
# The venv lives in .engram/alma-VERSION/ (git-ignored). Safe to run again: when alma-memory
# is already installed there at VERSION, nothing is downloaded. Logs go to stderr.
# Needs python3 with venv (scripts/setup.sh installs python3-venv).
set -euo pipefail
version="${1:?usage: scripts/alma.sh VERSION (e.g. 0.4.0 or 0.11.0)}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.engram/alma-$version"
py="$venv/bin/python"
# Pinned beside alma-memory: FAISS for alma's SQLite store (its `local` extra, installed by
# hand so that sentence-transformers and torch stay out), numpy for FAISS, and alma's own
# two dependencies. Wheels for CPython 3.11 on x86_64 Linux, tested with 0.4.0 and 0.11.0.
pins=(faiss-cpu==1.12.0 numpy==2.3.5 pyyaml==6.0.3 python-dotenv==1.2.1)

installed() {
  [ -x "$py" ] && [ "$("$py" -c 'import importlib.metadata as m; print(m.version("alma-memory"))' 2>/dev/null)" = "$version" ] \
    && "$py" -c 'import faiss, numpy' 2>/dev/null
}

if ! installed; then
  # Debian's python3 (with python3-venv), not a pyenv shim that may lack venv or ensurepip.
  base="/usr/bin/python3"
  [ -x "$base" ] || base="$(command -v python3)"
  "$base" -c 'import venv, ensurepip' 2>/dev/null \
    || { echo "alma: python3 has no venv/ensurepip (scripts/setup.sh installs python3-venv)" >&2; exit 1; }
  echo "alma: creating $venv with alma-memory==$version" >&2
  rm -rf "$venv"
  "$base" -m venv "$venv" >&2
  "$py" -m pip install --quiet --disable-pip-version-check "alma-memory==$version" "${pins[@]}" >&2
  installed || { echo "alma: alma-memory==$version did not install into $venv" >&2; exit 1; }
fi
echo "$py"
