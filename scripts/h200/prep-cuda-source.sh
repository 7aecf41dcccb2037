#!/usr/bin/env bash
# Writes .cuda/ (ignored by git), the carry build-cuda.sh needs: the llama.cpp source that
# node-llama-cpp ships (llama/gitRelease.bundle) with node-llama-cpp's own patch applied, and the
# Node headers cmake-js would otherwise download (the GPU machine has no network).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
nlc=$root/node_modules/node-llama-cpp
mkdir -p "$root/.git/info" "$root/.cuda"
grep -qxF '/.cuda/' "$root/.git/info/exclude" 2>/dev/null || echo '/.cuda/' >>"$root/.git/info/exclude"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git clone -q "$nlc/llama/gitRelease.bundle" "$src/llama.cpp"
for p in "$nlc"/llama/patches/*.diff; do git -C "$src/llama.cpp" apply "$p"; done
tar -C "$src/llama.cpp" --exclude=./.git --exclude=./models --exclude=./docs --exclude=./media \
  --exclude=./.github --exclude=./benches -cf - . | xz -T0 -6 >"$root/.cuda/llama.cpp.tar.xz"
mkdir -p "$src/inc/include"
cp -r "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node" "$src/inc/include/"
rm -rf "$src/inc/include/node/openssl"
tar -C "$src/inc" -cJf "$root/.cuda/nodeinc.tar.xz" include
du -sh "$root/.cuda"
