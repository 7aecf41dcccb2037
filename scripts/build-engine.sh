#!/usr/bin/env bash
# Builds node-llama-cpp's addon and llama.cpp from the source node-llama-cpp ships (no network needed),
# with servelab's addon patch (scripts/node-llama-cpp/parallel-sampling.patch): concurrent sequences
# copy their logits into their samplers in parallel instead of one at a time under a context-wide lock.
# On an H200 that took servelab from 4.0x to 7.7x-8.7x one stream at 32 streams (docs/benchmarks/h200.md).
# The prebuilt binaries `npm ci` installs do not have the patch; `npm ci` also removes this build.
#
# Usage: npm run engine:build -- [--gpu cuda|vulkan|metal|auto|false]   (default auto)
#        npm run engine:build -- --check    only check that the patch applies to this node-llama-cpp
# Needs cmake and a C++ compiler (and the CUDA toolkit for --gpu cuda). NODE_LLAMA_CPP_SERIAL_SAMPLING=1
# at run time restores node-llama-cpp's own behaviour in the patched build, for A/B measurements.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nlc=$root/node_modules/node-llama-cpp
patchFile=$root/scripts/node-llama-cpp/parallel-sampling.patch
gpu=auto
check=0
while [ $# -gt 0 ]; do
  case $1 in
    --gpu) gpu=${2:?"--gpu needs a value: cuda, vulkan, metal, auto or false"}; shift 2 ;;
    --gpu=*) gpu=${1#--gpu=}; shift ;;
    --check) check=1; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-engine: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $gpu in cuda | vulkan | metal | auto | false) ;; *)
  echo "build-engine: --gpu must be cuda, vulkan, metal, auto or false, got '$gpu'" >&2; exit 2 ;;
esac
[ -d "$nlc" ] || { echo "build-engine: $nlc is missing: run npm ci first" >&2; exit 1; }
version=$(node -p "require('$nlc/package.json').version")

if patch --dry-run --silent -R -p1 -d "$nlc" <"$patchFile" >/dev/null 2>&1; then
  state=applied
elif patch --dry-run --silent --forward -p1 -d "$nlc" <"$patchFile" >/dev/null 2>&1; then
  state=applies
else
  echo "build-engine: the patch does not apply to node-llama-cpp $version; it was made for 3.22.1" >&2
  exit 1
fi
if [ $check = 1 ]; then
  echo "node-llama-cpp $version: the patch $([ $state = applied ] && echo "is applied" || echo "applies cleanly")"
  exit 0
fi
if [ $state = applies ]; then
  patch --silent --forward -p1 -d "$nlc" <"$patchFile"
  echo "patched node-llama-cpp $version: $(basename "$patchFile")"
else
  echo "node-llama-cpp $version is already patched"
fi
command -v cmake >/dev/null || { echo "build-engine: cmake not found (apt-get install cmake, or brew install cmake)" >&2; exit 1; }
echo "building llama.cpp and the addon (--gpu $gpu); this takes minutes (about 10 on 2 cores for the CPU build)"
cd "$root"
# `source download` takes the llama.cpp release from the git bundle inside the package (GitHub only
# when the bundle is missing), then compiles it with the (patched) addon
node "$nlc/dist/cli/cli.js" source download --gpu "$gpu" --noUsageExample
echo "done: servelab now loads this build (servelab doctor shows 'localBuild')"
