#!/usr/bin/env bash
# Writes .gpu/ (ignored by git): the carry for CUDA runs on the GPU machine. With the working
# tree and dist/ it stays under the tool's 64 MiB, which .device/ plus the CUDA build does not:
#   node.xz               this machine's Node (from .device/, made by ../shared/device/pack.sh)
#   node_modules.tar.xz   production node_modules without TypeScript and the Vulkan prebuilt
#   cudabuild.tar.xz.part-*  the sm_90 build that build-cuda.sh wrote to $OUT
# Usage: scripts/h200/pack-gpu.sh FOLDER_WITH_CUDABUILD_PARTS
# Then: run with carry [".gpu", "dist"] and `source scripts/h200/lib.sh` in the command.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
parts=${1:?usage: pack-gpu.sh FOLDER_WITH_CUDABUILD_PARTS}
[ -f "$root/.device/app.tar.xz" ] || { echo "pack-gpu.sh: run ../shared/device/pack.sh first" >&2; exit 1; }
mkdir -p "$root/.git/info"
grep -qxF '/.gpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >>"$root/.git/info/exclude"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tar -xJf "$root/.device/app.tar.xz" -C "$stage" ./node_modules
rm -rf "$stage/node_modules/typescript" "$stage/node_modules/@node-llama-cpp/linux-x64-vulkan"
rm -rf "$root/.gpu"
mkdir -p "$root/.gpu"
tar -C "$stage" -cf - node_modules | xz -T0 -6 >"$root/.gpu/node_modules.tar.xz"
cp "$root/.device/node.xz" "$root/.gpu/"
cp "$parts"/cudabuild.tar.xz.part-* "$root/.gpu/"
du -sh "$root/.gpu"
