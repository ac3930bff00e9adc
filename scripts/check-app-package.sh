#!/usr/bin/env bash
# Builds and runs Tests/AppPackage, a small app that depends on Satchel by version, as an app
# developer's package would: from a git tag of a clone of this repository's committed state.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/satchel"
git -C "$work/satchel" tag -f 0.1.0 >/dev/null
cp -r "$root/Tests/AppPackage" "$work/app"
sed -i "s|SATCHEL_URL|file://$work/satchel|" "$work/app/Package.swift"
echo "satchel: building an app that depends on Satchel 0.1.0 (a tag of $(git -C "$root" rev-parse --short HEAD))" >&2
swift build --package-path "$work/app" >&2
"$(swift build --package-path "$work/app" --show-bin-path)/field-app"
