#!/usr/bin/env bash
# Installs the system packages Satchel builds against when they are missing, and any named
# as arguments (`scripts/install-deps.sh nginx`: `make cluster` needs it, nothing else does).
# Runs apt-get only when something is missing, and only as root (or with sudo available).
set -euo pipefail

# faketime: the clock tests run the terminal client a year ahead. postgresql: the PostgreSQL
# backend's tests start a throwaway server of their own (scripts/with-postgres.sh).
# python3-venv: scripts/check-openapi.sh installs its PyPI tools into a venv.
packages=(libsqlite3-dev zlib1g-dev pkg-config faketime postgresql python3-venv "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "satchel: missing ${missing[*]}; install them with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
        echo "satchel: missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
echo "satchel: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
