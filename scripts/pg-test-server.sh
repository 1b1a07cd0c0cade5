#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, from Debian's `postgresql` binaries.
#
#   scripts/pg-test-server.sh start DIR   # initdb in DIR, start on a free loopback port,
#                                         # print the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg-test-server.sh stop DIR    # stop it and remove DIR
#
# e.g. in CI:  export TYMPAN_TEST_DATABASE_URL=$(scripts/pg-test-server.sh start /tmp/pg)
#              ... cargo test ...; scripts/pg-test-server.sh stop /tmp/pg
# Without TYMPAN_TEST_DATABASE_URL the store tests start such a server themselves.
# Runs the server as `nobody` when called as root (initdb refuses root). Fails, naming
# scripts/setup.sh, when the binaries are missing.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
  echo "pg-test-server: PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): run scripts/setup.sh" >&2
  exit 1
}
as_user=()
[ "$(id -u)" -eq 0 ] && as_user=(runuser -u nobody --)

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/data" ] && { echo "pg-test-server: $dir/data exists (stop first)" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] && chown nobody: "$dir"
    cd "$dir"
    "${as_user[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
      -o "-k $dir -h 127.0.0.1 -p $port -F -c max_connections=400 -c full_page_writes=off" \
      start >/dev/null || { cat "$dir/log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] || { echo "pg-test-server: no server in $dir" >&2; exit 1; }
    (cd "$dir" && "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null)
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
