#!/usr/bin/env bash
# Keeps Protocol/openapi.yaml the contract (`make test` runs this after the Swift suite):
#   1. openapi-spec-validator loads it as a strict OpenAPI 3.1 document;
#   2. schemathesis sends generated requests, valid and invalid, to a live satchel-server (a
#      fresh data directory on a free loopback port) and fails on any 5xx and on any answer
#      whose status, content type, headers or JSON body the document does not describe. It runs
#      twice: with a device token (health, readiness, enrollment, hello, push, pull, the live
#      upgrade) and with an operator token (the admin API and /metrics).
# The Python tools live in a venv in the build folder (SATCHEL_TOOLS to put it elsewhere),
# installed from PyPI at pinned versions on first use.
#
#   scripts/check-openapi.sh          # SATCHEL_BIN: the folder with satchel-server
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SATCHEL_BIN:-$(cd "$root" && swift build --show-bin-path)}
[ -x "$bin/satchel-server" ] || { echo "check-openapi: no satchel-server in $bin; build it first (swift build)" >&2; exit 1; }
spec=$root/Protocol/openapi.yaml
tools=${SATCHEL_TOOLS:-$root/.build/openapi-venv}
# Pinned: a new release of either must not change what passes without a commit saying so.
requirements=("openapi-spec-validator==0.9.0" "schemathesis==4.32.5")
# Generated cases per operation and phase: enough to hit every documented answer, a minute or
# two in all on 2 cores.
examples=${SATCHEL_OPENAPI_EXAMPLES:-15}
started=$(date +%s)

# Debian's python3, not a user's pyenv shim: its venv module comes with python3-venv.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    "$root/scripts/install-deps.sh" python3-venv
fi
if [ "$(cat "$tools/.satchel-requirements" 2>/dev/null)" != "${requirements[*]}" ]; then
    echo "check-openapi: installing ${requirements[*]} into $tools" >&2
    rm -rf "$tools"
    "$python" -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" >"$tools/.satchel-requirements"
fi

"$tools/bin/openapi-spec-validator" "$spec"

tmp=$(mktemp -d /tmp/satchel-check-openapi.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "check-openapi: FAILED: $*" >&2
    [ -f "$tmp/server.log" ] && { echo "--- last lines of the server's log" >&2; tail -20 "$tmp/server.log" >&2; }
    exit 1
}

data=$tmp/data
"$bin/satchel-server" quickstart --data "$data" --url http://127.0.0.1 --json >"$tmp/quickstart.json" 2>>"$tmp/server.log" ||
    fail "satchel-server quickstart failed"
operator=$("$bin/satchel-server" operator-token create --data "$data" --json | "$python" -c 'import json, sys; print(json.load(sys.stdin)["token"])') ||
    fail "no operator token"
"$bin/satchel-server" serve --data "$data" --port 0 --heartbeat-seconds 1 >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!
port=""
for _ in $(seq 300); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/server.out" 2>/dev/null | head -1 | sed 's/.*://') || true
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "satchel-server exited before listening"
    sleep 0.1
done
[ -n "$port" ] || fail "satchel-server was not listening within 30 s"
url=http://127.0.0.1:$port
device=$("$python" - "$url" "$tmp/quickstart.json" <<'PY'
import json, sys, urllib.request
url, quickstart = sys.argv[1], sys.argv[2]
code = json.load(open(quickstart))["code"]
request = urllib.request.Request(url + "/v1/enroll", data=json.dumps({"code": code, "label": "schemathesis"}).encode(),
                                 headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["token"])
PY
) || fail "could not enroll a device at $url"

# What "documented" means here: no 5xx, and status, content type, headers and JSON body as the
# document says. Not schemathesis' data-acceptance checks: a frame is `format: binary`, so every
# body it makes is "valid" to it, and most of them are rightly refused as malformed frames.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
run() {
    local name=$1 token=$2; shift 2
    echo "check-openapi: schemathesis against $url, $name" >&2
    # From the temporary folder: schemathesis keeps a cache of past failures in the current
    # directory and replays them, and a run must depend only on this commit.
    (cd "$tmp" && PYTHONPATH=$root/scripts SCHEMATHESIS_HOOKS=schemathesis_hooks "$tools/bin/schemathesis" run "$spec" --url "$url" --checks "$checks" --max-examples "$examples" \
        --seed 20261202 --workers 1 --request-timeout 10 --suppress-health-check all --no-color \
        --header "Authorization: Bearer $token" "$@") >"$tmp/schemathesis-$name.log" 2>&1 || {
        cat "$tmp/schemathesis-$name.log" >&2
        fail "schemathesis found answers openapi.yaml does not describe ($name)"
    }
    tail -8 "$tmp/schemathesis-$name.log" >&2
}
# Not the live route: a 101 turns the connection into a WebSocket, which an HTTP test client
# cannot read, and schemathesis counts as a failure. LiveHandshakeTests checks every answer of
# /v1/live byte for byte instead.
run device-token "$device" --exclude-tag admin --exclude-path /v1/live
run operator-token "$operator" --include-tag admin
kill -0 "$server_pid" 2>/dev/null || fail "satchel-server died during the run"
echo "check-openapi: openapi.yaml is valid and the live server answered as it says ($(($(date +%s) - started)) s)" >&2
