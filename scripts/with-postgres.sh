#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server of its own: a new cluster in a folder under
# /tmp on a free loopback port, stopped and removed when the command ends (also on failure or
# Ctrl-C). The command finds it in SATCHEL_TEST_POSTGRES, a URL of its `postgres` database.
#
#   scripts/with-postgres.sh swift test --skip-build
#
# initdb refuses to run as root: as root the cluster runs as the `postgres` user the Debian
# package creates.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
    echo "satchel: PostgreSQL is not installed; run scripts/install-deps.sh (or apt-get install postgresql)" >&2
    exit 1
fi
dir=$(mktemp -d /tmp/satchel-pg.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
stop() {
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log"
# Room for every test's pools at once; the rest as a production server has it (fsync and
# synchronous commit on).
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500" start >/dev/null
export SATCHEL_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "satchel: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for tests on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
if [ $status -ne 0 ] && [ -n "${SATCHEL_PG_LOG:-}" ]; then cp "$dir/server.log" "$SATCHEL_PG_LOG"; fi
exit $status
