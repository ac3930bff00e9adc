#!/usr/bin/env bash
# A Satchel cluster on one machine, in the foreground until Ctrl-C or SIGTERM: a PostgreSQL
# server of its own, three `satchel-server serve --database …` instances and nginx in front of
# them on one port. Everything lives in one folder, kept between runs (a second start reuses the
# data); on the way out every process it started is stopped.
#
#   scripts/cluster.sh                    # what `make cluster` runs
#   CLUSTER_DIR=/srv/sc PORT=9000 scripts/cluster.sh
#
# Settings (environment):
#   CLUSTER_DIR   the folder (default ./satchel-cluster)
#   PORT          nginx's port, the one devices use (default 8080)
#   HOST          nginx's listen address (default 127.0.0.1; 0.0.0.0 for other machines)
#   SERVER_PORTS  the three servers' ports (default PORT+1 PORT+2 PORT+3, on 127.0.0.1)
#   PG_PORT       PostgreSQL's port (default PORT+4, on 127.0.0.1)
#   HEARTBEAT     live heartbeat seconds (default 10)
#   SATCHEL_BIN   folder holding satchel-server (default: `swift build --show-bin-path`)
#
# Layout of the folder: postgres/data (the database cluster) and postgres/postgres.log,
# nginx/ (nginx.conf, generated on every start, its logs and temp files), logs/server-N.log,
# run/*.pid (what is running now, for scripts/check-cluster.sh and for you).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-8080}
host=${HOST:-127.0.0.1}
read -r -a server_ports <<<"${SERVER_PORTS:-$((port + 1)) $((port + 2)) $((port + 3))}"
pg_port=${PG_PORT:-$((port + 4))}
heartbeat=${HEARTBEAT:-10}
dir=${CLUSTER_DIR:-./satchel-cluster}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=${SATCHEL_BIN:-$(cd "$root" && swift build --show-bin-path)}

say() { echo "satchel cluster: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$bin/satchel-server" ] || die "no satchel-server in $bin; build it first (swift build --product satchel-server)"
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pg" ] || die "PostgreSQL is not installed; run scripts/install-deps.sh nginx (or apt-get install postgresql)"
nginx=$(command -v nginx || true)
[ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
[ -n "$nginx" ] || die "nginx is not installed; run scripts/install-deps.sh nginx (or apt-get install nginx)"
[ ${#server_ports[@]} -eq 3 ] || die "SERVER_PORTS must name three ports, not '${SERVER_PORTS:-}'"

mkdir -p "$dir/postgres" "$dir/nginx/logs" "$dir/nginx/temp" "$dir/logs" "$dir/run"
rm -f "$dir"/run/*.pid
# initdb refuses to run as root: as root the database runs as the `postgres` user the Debian
# package creates, which must own its folder and be able to reach it.
as=()
if [ "$(id -u)" -eq 0 ]; then
    as=(runuser -u postgres --)
    chown postgres "$dir/postgres"
    "${as[@]}" test -w "$dir/postgres" ||
        die "the postgres user cannot reach $dir/postgres; let it through the folders above (chmod o+x) or choose another CLUSTER_DIR"
fi
data=$dir/postgres/data
db_url="postgres://satchel@127.0.0.1:$pg_port/satchel?sslmode=disable"

# What this run started, stopped in reverse order. PostgreSQL is stopped only if this run
# started it: a database already running on the folder (another cluster.sh) is refused below.
server_pids=()
nginx_pid=""
pg_started=""
stopping=""
# Whether process `pid` has ended: no longer there, or a zombie waiting for its parent (the
# postmaster's parent is init once pg_ctl has left).
gone() {
    [ -e "/proc/$1" ] || return 0
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [ "${stat%% *}" = "Z" ]
}
stop_all() {
    [ -n "$stopping" ] && return
    stopping=1
    local pids=()
    [ -n "$nginx_pid" ] && pids+=("$nginx_pid")
    pids+=("${server_pids[@]}")
    # SIGTERM: nginx closes at once (live connections too); a server finishes requests in flight,
    # ends its live connections, then closes its pool.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then say "process $pid did not stop within 10 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$pg_started" ]; then
        local postmaster
        postmaster=$(cat "$dir/run/postgres.pid")
        "${as[@]}" "$pg/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null ||
            say "PostgreSQL did not stop cleanly; see $dir/postgres/postgres.log"
        # pg_ctl returns once postmaster.pid is gone, a moment before the postmaster exits.
        for _ in $(seq 100); do gone "$postmaster" && break; sleep 0.1; done
        gone "$postmaster" || say "the PostgreSQL server (process $postmaster) is still running"
    fi
    rm -f "$dir"/run/*.pid
    say "stopped"
}
trap stop_all EXIT
# Ctrl-C or SIGTERM is how a person stops the cluster: a clean stop is a success.
trap 'stop_all; exit 0' INT TERM

# --- PostgreSQL: created once, then reused ---
if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in $data"
    "${as[@]}" "$pg/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/postgres/initdb.log" ||
        die "initdb failed; see $dir/postgres/initdb.log"
fi
if "${as[@]}" "$pg/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    die "a PostgreSQL server already runs on $data (another cluster on this folder?); stop it first"
fi
# TCP on loopback only, no Unix socket (a long folder path would not fit one). Each instance
# keeps a pool of at most 8 connections: 3 × 8 plus operator commands fit the default 100.
"${as[@]}" "$pg/pg_ctl" -D "$data" -l "$dir/postgres/postgres.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null ||
    die "PostgreSQL did not start on port $pg_port; see $dir/postgres/postgres.log"
pg_started=1
head -1 "$data/postmaster.pid" >"$dir/run/postgres.pid"
psql=("${as[@]}" "$pg/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres)
# The servers connect as `satchel`, the owner of database `satchel`, not as a superuser.
if [ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'satchel'")" ]; then
    "${psql[@]}" -c "CREATE ROLE satchel LOGIN"
fi
if [ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'satchel'")" ]; then
    "${psql[@]}" -c "CREATE DATABASE satchel OWNER satchel"
    say "created database satchel"
fi

# --- the briefing (only changes apply on later runs) ---
"$bin/satchel-server" briefing load "$root/Data/china-briefing.json" --database "$db_url" >"$dir/logs/briefing.log" 2>&1 ||
    { cat "$dir/logs/briefing.log" >&2; die "loading the briefing failed"; }

# --- three servers on one database ---
for i in 0 1 2; do
    n=$((i + 1))
    "$bin/satchel-server" serve --database "$db_url" --host 127.0.0.1 --port "${server_ports[$i]}" \
        --heartbeat-seconds "$heartbeat" >>"$dir/logs/server-$n.log" 2>&1 &
    server_pids+=($!)
    echo $! >"$dir/run/server-$n.pid"
done

# Waits until `url` answers "ready" (a process that exits meanwhile fails it at once).
wait_ready() {
    local url=$1 pid=$2 what=$3 log=$4
    for _ in $(seq 600); do
        [ "$(curl -s --max-time 2 "$url" 2>/dev/null || true)" = "ready" ] && return 0
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$what exited before it was ready; see $log"; }
        sleep 0.1
    done
    tail -20 "$log" >&2
    die "$what was not ready within 60 s at $url; see $log"
}
for i in 0 1 2; do
    wait_ready "http://127.0.0.1:${server_ports[$i]}/v1/ready" "${server_pids[$i]}" "server $((i + 1))" "$dir/logs/server-$((i + 1)).log"
done

# --- nginx in front, with a config of its own in the folder (never /etc/nginx) ---
# Run by root, nginx's workers would be `nobody`, who cannot write temp files in a folder
# that is its owner's only: the workers run as the user starting the cluster.
user_line="user $(id -un) $(id -gn);"
[ "$(id -u)" -eq 0 ] || user_line="# (not root: the workers run as $(id -un))"
upstreams=""
for p in "${server_ports[@]}"; do
    # Passive health checks: after 2 failed attempts in 10 s a server is left out for 10 s.
    upstreams+="        server 127.0.0.1:$p max_fails=2 fail_timeout=10s;"$'\n'
done
cat >"$dir/nginx/nginx.conf" <<EOF
# Generated by scripts/cluster.sh at every start: edit the script, not this file.
$user_line
daemon off;
worker_processes 2;
pid logs/nginx.pid;
error_log logs/error.log notice;

events { worker_connections 4096; }

http {
    log_format satchel '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                       'upstream=\$upstream_addr upstream_status=\$upstream_status time=\$request_time';
    access_log logs/access.log satchel;
    client_body_temp_path temp/client_body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;

    upstream satchel {
$upstreams        # Idle connections to the servers are reused; nginx drops them after 60 s, before
        # a server's 75 s idle timeout, so it never reuses one the server is closing.
        keepalive 32;
    }
    # The same servers for live connections, never over a reused connection: a server upgrades
    # only the first request of a connection (an upgrade on a kept-alive one is not upgraded).
    upstream satchel_live {
$upstreams    }

    server {
        listen $host:$port;
        # Above the servers' own 4 MiB request limit, so they answer an oversized push themselves.
        client_max_body_size 8m;
        proxy_connect_timeout 2s;
        # A server that refuses the connection, times out or answers 502/503/504 is skipped
        # for the next one. POST (push, pull, enroll) moves on only if the request never reached
        # the first server: nginx never resends a non-idempotent request it has sent.
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 15s;

        # The live WebSocket: HTTP/1.1 with the upgrade headers passed on, no buffering (events
        # go out as they come), and a read timeout far above the heartbeat so an idle but
        # healthy connection is never cut.
        location = /v1/live {
            proxy_pass http://satchel_live;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }

        location / {
            proxy_pass http://satchel;
            proxy_http_version 1.1;
            # Empty Connection header: keeps the upstream connection open for reuse.
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 60s;
        }
    }
}
EOF
"$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/logs/error.log" -t -q ||
    die "nginx refused the generated config $dir/nginx/nginx.conf"
"$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/logs/error.log" &
nginx_pid=$!
echo $nginx_pid >"$dir/run/nginx.pid"
wait_ready "http://127.0.0.1:$port/v1/ready" "$nginx_pid" "nginx" "$dir/nginx/logs/error.log"

# --- how to join, through nginx ---
shown_host=$host
[ "$host" = "0.0.0.0" ] && shown_host=127.0.0.1
"$bin/satchel-server" quickstart --database "$db_url" --url "http://$shown_host:$port"
cat <<EOF
Satchel cluster running (Ctrl-C stops it all):
  devices:     http://$shown_host:$port  (nginx, logs in $dir/nginx/logs)
  servers:     ${server_ports[*]} on 127.0.0.1  (logs in $dir/logs)
  database:    $db_url  (data in $data)
  operator:    $bin/satchel-server user list --database '$db_url'
EOF

# Until Ctrl-C: a server that exits is reported and the others keep serving (nginx skips it);
# the cluster stops if nginx exits or no server is left.
alive=("${server_pids[@]}")
while :; do
    set +e
    wait -n -p ended "$nginx_pid" "${alive[@]}"
    status=$?
    set -e
    [ -n "${ended:-}" ] || continue
    if [ "$ended" = "$nginx_pid" ]; then
        nginx_pid=""
        die "nginx exited with status $status; see $dir/nginx/logs/error.log"
    fi
    for i in 0 1 2; do
        if [ "${server_pids[$i]}" = "$ended" ]; then
            say "server $((i + 1)) (port ${server_ports[$i]}) exited with status $status; see $dir/logs/server-$((i + 1)).log; the others keep serving"
            rm -f "$dir/run/server-$((i + 1)).pid"
        fi
    done
    rest=()
    for pid in "${alive[@]}"; do [ "$pid" = "$ended" ] || rest+=("$pid"); done
    alive=("${rest[@]}")
    [ ${#alive[@]} -gt 0 ] || die "no server is left"
    ended=""
done
