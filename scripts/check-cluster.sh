#!/usr/bin/env bash
# Smoke check of `make cluster` (CI runs it): scripts/cluster.sh in a temporary folder on free
# ports, then through nginx only:
#   - readiness and health answer;
#   - three devices join with the real `satchel` client; a note written on one and synced is
#     seen by another after its sync, and reaches a third watching live (`satchel watch`);
#   - a raw WebSocket upgrade of /v1/live answers 101 and carries a heartbeat frame, and one
#     with a wrong token is refused;
#   - with one server killed, devices still sync (nginx moves on to the others);
#   - SIGINT to the cluster script stops everything it started: no process left, ports free.
# Any failed step stops the check with what went wrong and the logs' tails.
#
#   scripts/check-cluster.sh            # SATCHEL_BIN: the folder with satchel-server and satchel
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SATCHEL_BIN:-$(cd "$root" && swift build --show-bin-path)}
for b in satchel-server satchel; do
    [ -x "$bin/$b" ] || { echo "check-cluster: no $b in $bin; build it first (swift build)" >&2; exit 1; }
done
started=$(date +%s)
tmp=$(mktemp -d /tmp/satchel-check-cluster.XXXXXX)
# The postgres user (as root) must reach the database's folder inside.
chmod 755 "$tmp"
cluster=$tmp/cluster
cluster_pid=""

fail() {
    echo "check-cluster: FAILED: $*" >&2
    for f in "$tmp/cluster.out" "$cluster"/logs/server-*.log "$cluster/nginx/logs/error.log" "$cluster/postgres/postgres.log" "$tmp"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $f" >&2
        tail -15 "$f" >&2
    done
    exit 1
}
step() { echo "check-cluster: $*" >&2; }

cleanup() {
    # Only after a failure is the cluster still running here: stop it the way a person would.
    if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
        kill -TERM "$cluster_pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    for w in "${watchers[@]}"; do kill -TERM "$w" 2>/dev/null || true; done
    rm -rf "$tmp"
}
watchers=()
trap cleanup EXIT

# Five distinct free loopback ports, all held until printed so none repeats.
read -r port s1 s2 s3 pg_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
url=http://127.0.0.1:$port

# Job control on: the cluster script gets a process group of its own and, unlike a plain
# background job of a script, does not start with SIGINT ignored (it could not trap it).
set -m
CLUSTER_DIR=$cluster PORT=$port SERVER_PORTS="$s1 $s2 $s3" PG_PORT=$pg_port HEARTBEAT=1 SATCHEL_BIN=$bin \
    "$root/scripts/cluster.sh" >"$tmp/cluster.out" 2>&1 &
cluster_pid=$!
set +m

step "cluster starting in $cluster (nginx $port, servers $s1 $s2 $s3, PostgreSQL $pg_port)"
for _ in $(seq 900); do
    grep -q "^Satchel cluster running" "$tmp/cluster.out" 2>/dev/null && break
    kill -0 "$cluster_pid" 2>/dev/null || fail "the cluster script exited before it was running"
    sleep 0.1
done
grep -q "^Satchel cluster running" "$tmp/cluster.out" || fail "the cluster was not running within 90 s"
step "cluster running after $(($(date +%s) - started)) s"

[ "$(curl -s --max-time 5 "$url/v1/ready")" = "ready" ] || fail "GET /v1/ready through nginx did not answer ready"
[ "$(curl -s --max-time 5 "$url/v1/health")" = "ok" ] || fail "GET /v1/health through nginx did not answer ok"
join_line=$(grep -o "satchel join $url [A-Z0-9-]*" "$tmp/cluster.out") ||
    fail "the cluster printed no 'satchel join $url CODE' line"
code_a=${join_line##* }
db_url="postgres://satchel@127.0.0.1:$pg_port/satchel?sslmode=disable"
new_code() {
    "$bin/satchel-server" quickstart --database "$db_url" --url "$url" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])'
}
code_b=$(new_code) || fail "quickstart --database gave no second code"
code_c=$(new_code) || fail "quickstart --database gave no third code"

sat() { local home=$1; shift; "$bin/satchel" "$@" --home "$tmp/$home"; }
sat a join "$url" "$code_a" --label check-a >"$tmp/a.log" 2>&1 || fail "device a could not join through nginx"
sat b join "$url" "$code_b" --label check-b >"$tmp/b.log" 2>&1 || fail "device b could not join through nginx"
sat c join "$url" "$code_c" --label check-c >"$tmp/c.log" 2>&1 || fail "device c could not join through nginx"
sat a sync >>"$tmp/a.log" 2>&1 || fail "device a's first sync failed"
sat b sync >>"$tmp/b.log" 2>&1 || fail "device b's first sync failed"

# Device c watches live: it syncs only when its WebSocket (through nginx) announces a change.
"$bin/satchel" watch --json --heartbeat 1 --home "$tmp/c" >"$tmp/c-watch.out" 2>"$tmp/c-watch.log" &
watchers+=($!)
for _ in $(seq 300); do grep -q '"ok": *true' "$tmp/c-watch.out" && break; sleep 0.1; done
grep -q '"ok": *true' "$tmp/c-watch.out" || fail "satchel watch made no first sync over its live connection within 30 s"
watch_lines=$(wc -l <"$tmp/c-watch.out")

title="cluster check $RANDOM$RANDOM"
sat a note add --title "$title" --tag check --body "written through nginx" >>"$tmp/a.log" 2>&1 || fail "device a could not add a note"
sat a sync >>"$tmp/a.log" 2>&1 || fail "device a's sync of its note failed"
sat b sync >>"$tmp/b.log" 2>&1 || fail "device b's sync failed"
sat b note list --json >"$tmp/b-notes.json" 2>>"$tmp/b.log" || fail "device b could not list its notes"
grep -qF "$title" "$tmp/b-notes.json" || fail "device b does not see the note device a wrote and synced"
step "a note written on device a is on device b after its sync"

# The note's announcement reaches the watcher, whichever server each device's requests hit.
pulled=""
for _ in $(seq 100); do
    pulled=$(tail -n +$((watch_lines + 1)) "$tmp/c-watch.out" | python3 -c '
import json, sys
print(sum(json.loads(l).get("pulled", 0) for l in sys.stdin if l.strip()))')
    [ "$pulled" -gt 0 ] && break
    sleep 0.1
done
[ "$pulled" -gt 0 ] || fail "the watching device pulled nothing within 10 s of the note's sync"
! grep -q '"ok": *false' "$tmp/c-watch.out" || fail "satchel watch reported a failure: $(grep '"ok": *false' "$tmp/c-watch.out" | head -1)"
sat c note list --json >"$tmp/c-notes.json" 2>>"$tmp/c.log" || fail "device c could not list its notes"
grep -qF "$title" "$tmp/c-notes.json" || fail "the watching device c does not have the note after its live sync"
step "the watching device pulled the note over its live connection"

# A raw upgrade, as any client sends it: 101 and a binary heartbeat frame within 3 heartbeats
# with device a's token; with a wrong token no upgrade.
token=$(python3 -c '
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute("SELECT value FROM meta WHERE key = ?", ("token",)).fetchone()
print(row[0].decode() if isinstance(row[0], bytes) else row[0])' "$tmp/a/satchel.sqlite") || fail "no token in device a's home"
upgrade() {
    python3 - "$port" "$1" <<'EOF'
import base64, os, socket, sys
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=3)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0].decode(errors="replace")
print(status)
if " 101 " not in status + " ":
    sys.exit(0)
while len(rest) < 2:
    chunk = s.recv(4096)
    if not chunk: sys.exit("the live connection closed before its first frame")
    rest += chunk
opcode = rest[0] & 0x0F
print("frame opcode", opcode)
EOF
}
answer=$(upgrade "$token") || fail "the raw WebSocket upgrade through nginx failed: $answer"
grep -q "^HTTP/1.1 101 " <<<"$answer" || fail "a WebSocket upgrade of /v1/live through nginx answered '$(head -1 <<<"$answer")', not 101"
grep -q "^frame opcode 2$" <<<"$answer" || fail "the live connection through nginx carried no binary frame: $answer"
answer=$(upgrade "not-a-token") || fail "the raw WebSocket upgrade with a wrong token failed: $answer"
! grep -q " 101 " <<<"$answer" || fail "a wrong token was upgraded to a live connection"
step "raw upgrade: 101 and a heartbeat frame; a wrong token refused ($(head -1 <<<"$answer"))"

# One server killed: nginx skips it (connection refused) and devices keep syncing.
killed=$(cat "$cluster/run/server-1.pid")
kill -KILL "$killed"
for i in 1 2 3; do
    sat a note add --title "$title after kill $i" --body "." >>"$tmp/a.log" 2>&1 || fail "device a could not add a note"
    sat a sync >>"$tmp/a.log" 2>&1 || fail "device a's sync failed with server 1 killed"
    sat b sync >>"$tmp/b.log" 2>&1 || fail "device b's sync failed with server 1 killed"
done
sat b note list --json >"$tmp/b-notes.json" 2>>"$tmp/b.log" || fail "device b could not list its notes"
[ "$(grep -cF "$title after kill" "$tmp/b-notes.json")" -eq 3 ] || fail "device b lacks notes synced while server 1 was down"
for _ in $(seq 50); do grep -q "server 1 (port $s1) exited" "$tmp/cluster.out" && break; sleep 0.1; done
grep -q "server 1 (port $s1) exited" "$tmp/cluster.out" || fail "the cluster script did not report server 1's exit"
[ "$(curl -s --max-time 5 "$url/v1/ready")" = "ready" ] || fail "GET /v1/ready through nginx failed with server 1 down"
# Proof that requests were sent to the dead server and nginx moved on, not that none went there.
grep -q "connect() failed .* upstream: \"http://127.0.0.1:$s1/" "$cluster/nginx/logs/error.log" ||
    fail "nginx's error log shows no refused connection to server 1: the failover was not exercised"
step "server 1 killed: 3 rounds of syncs through nginx all succeeded"

# Ctrl-C: everything the script started must be gone and every port free.
kill -TERM "${watchers[@]}" 2>/dev/null || true
wait "${watchers[@]}" 2>/dev/null || true
watchers=()
pids=$(cat "$cluster"/run/*.pid)
[ "$(wc -w <<<"$pids")" -eq 4 ] || fail "expected 4 recorded processes (PostgreSQL, 2 servers, nginx), found: $pids"
kill -INT "$cluster_pid"
for _ in $(seq 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cluster_pid" 2>/dev/null && fail "the cluster script was still running 30 s after SIGINT"
set +e
wait "$cluster_pid"
status=$?
set -e
cluster_pid=""
[ $status -eq 0 ] || fail "the cluster script exited with status $status after SIGINT"
# Ended means gone or a zombie: PostgreSQL's postmaster is reparented to init when pg_ctl
# leaves, and init reaps it a moment after it exits.
gone() {
    [ -e "/proc/$1" ] || return 0
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [ "${stat%% *}" = "Z" ]
}
for pid in $pids; do
    gone "$pid" || fail "process $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)) outlived the cluster"
done
# Also any process at all still naming the folder (PostgreSQL's children, nginx) or the
# database (a server).
left=$(python3 - "$cluster" ":$pg_port/satchel" <<'EOF'
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid(): continue
    try: line = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError: continue
    if any(mark in line for mark in sys.argv[1:]): print(pid, line)
EOF
)
[ -z "$left" ] || fail "processes outlived the cluster: $left"
for p in "$port" "$s1" "$s2" "$s3" "$pg_port"; do
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null || fail "port $p is still taken after the cluster stopped"
done
[ ! -e "$cluster/postgres/data/postmaster.pid" ] || fail "PostgreSQL's postmaster.pid is still there: not shut down cleanly"
step "SIGINT: cluster stopped, no process left, ports free"
step "passed in $(($(date +%s) - started)) s"
