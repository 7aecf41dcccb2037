#!/usr/bin/env bash
# Writes .gpu/ (ignored by git): the carry for CUDA runs on the GPU machine, under the tool's
# 64 MiB with the working tree:
#   node.xz                  the Node that runs servelab (.device/node.xz if there, else this one's)
#   node_modules.tar.xz      production node_modules of this checkout (npm ls --omit=dev), without
#                            node-llama-cpp's prebuilt binaries, its source bundle and TypeScript
#   dist/                    a copy of dist/ (so a rebuild here during the call cannot tear it)
#   cudabuild.tar.xz.part-*  the sm_90 build that build-cuda.sh wrote to $OUT, if a folder is given
# Usage: scripts/h200/pack-gpu.sh [FOLDER_WITH_CUDABUILD_PARTS]
# Then: run with carry [".gpu"] (and [".cuda"] to build) and `source scripts/h200/lib.sh`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
parts=${1:-}
cd "$root"
[ -d node_modules ] && [ -d dist ] || { echo "pack-gpu.sh: run npm ci && npm run build first" >&2; exit 1; }
mkdir -p .git/info
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
rm -rf .gpu
mkdir -p .gpu
# Top-level production packages; nested node_modules come with their parents.
npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$root/||" | grep '^node_modules/' |
  grep -v '/node_modules/.*/node_modules/\|^node_modules/.*/node_modules/' |
  grep -v '^node_modules/@node-llama-cpp/\|^node_modules/typescript$' | sort -u >.gpu/packages.txt
tar -cf - --exclude=node_modules/node-llama-cpp/llama/gitRelease.bundle -T .gpu/packages.txt |
  xz -T0 -6 >.gpu/node_modules.tar.xz
echo "node-llama-cpp $(node -p "require('./node_modules/node-llama-cpp/package.json').version")" >.gpu/versions.txt
if [ -f .device/node.xz ]; then cp .device/node.xz .gpu/; else xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >.gpu/node.xz; fi
cp -r dist .gpu/dist
if [ -n "$parts" ]; then cp "$parts"/cudabuild.tar.xz.part-* .gpu/; fi
du -sh .gpu
