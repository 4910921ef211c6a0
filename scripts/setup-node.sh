#!/usr/bin/env bash
# Install the pinned Node peers of the interop tests -- the MCP Inspector, the MCP
# conformance suite and the Node 22 runtime they need -- under tests/interop/node/node_modules,
# exactly as tests/interop/node/package-lock.json says, from the npm registry only.
#
# Idempotent and fast when already done: `npm ci` runs only when node_modules was not
# installed from the current package.json and package-lock.json. Needs any npm on PATH
# (the Node that runs npm itself may be older than 22).
#
# Usage: scripts/setup-node.sh [--force]

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/interop/node"
modules="$dir/node_modules"
# Copies of the manifest and lock file that node_modules was installed from.
stamp="$modules/.bridgehead-installed"
node22="$modules/node/bin/node"

installed() {
    cmp -s "$dir/package.json" "$stamp/package.json" \
        && cmp -s "$dir/package-lock.json" "$stamp/package-lock.json" \
        && [ -x "$node22" ] \
        && "$node22" --version >/dev/null 2>&1
}

if [ "${1:-}" != "--force" ] && installed; then
    echo "setup-node: up to date ($("$node22" --version) in ${modules#"$root"/})"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "setup-node: npm not found on PATH; install Node.js with npm (any version >= 18)" >&2
    exit 1
fi

rm -rf "$stamp"
echo "setup-node: npm ci in ${dir#"$root"/} (npm $(npm --version), node $(node --version))"
# The `node` package fetches its platform's binary (node-<os>-<arch>) from the registry in
# a preinstall script; allowScripts in package.json permits exactly that one.
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)

version="$("$node22" --version)"
case "$version" in
    v22.*) ;;
    *)
        echo "setup-node: expected Node 22 at $node22, found $version" >&2
        exit 1
        ;;
esac
mkdir -p "$stamp"
cp "$dir/package.json" "$dir/package-lock.json" "$stamp/"
echo "setup-node: ready ($version in ${modules#"$root"/})"
