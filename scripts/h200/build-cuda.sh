#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .gpu/ (pack-gpu.sh; or .device/) and .cuda/ carried:
#   .cuda/llama.cpp.tar.xz  the llama.cpp source node-llama-cpp ships (llama/gitRelease.bundle,
#                           its PR-22566 patch applied, models/ docs/ media/ benches/ left out)
#   .cuda/nodeinc.tar.xz    include/node of the Node that runs servelab (cmake-js would download it)
# Builds node-llama-cpp's addon with llama.cpp's CUDA backend for sm_90 only, names the build
# linux-x64-cuda (where getLlama({ gpu: "cuda" }) looks for a local build), and writes it to
# $OUT as cudabuild.tar.xz.part-* (`pack-gpu.sh FOLDER_WITH_THEM` carries the build to later calls).
# The addon gets servelab's parallel-sampling patch first unless ADDON_PATCH=0.
set -u
export T0=${T0:-$(date +%s)}
source scripts/h200/lib.sh
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  command -v cmake nvcc gcc g++ make ninja git
  cmake --version | head -1
  nvcc --version | tail -2
  nproc
} 2>&1 | tee "$RES/machine.txt"
export PATH=$PATH:/usr/local/cuda/bin
v=$(node -p process.versions.node)
mkdir -p "$HOME/.cmake-js/node-x64/v$v"
tar -xJf "$REPO/.cuda/nodeinc.tar.xz" -C "$HOME/.cmake-js/node-x64/v$v"
# servelab's addon patch (scripts/node-llama-cpp/parallel-sampling.patch): concurrent sequences copy their
# logits into their samplers in parallel instead of one at a time. ADDON_PATCH=0 builds the addon as shipped.
if [ "${ADDON_PATCH:-1}" = 1 ]; then
  patch -p1 --forward -d "$NLC" <"$REPO/scripts/node-llama-cpp/parallel-sampling.patch" ||
    (cd "$NLC" && git apply "$REPO/scripts/node-llama-cpp/parallel-sampling.patch") || exit 1
  echo "addon patched: parallel-sampling.patch"
fi
rm -rf "$NLC/llama/llama.cpp"
mkdir -p "$NLC/llama/llama.cpp/.git"
tar -xJf "$REPO/.cuda/llama.cpp.tar.xz" -C "$NLC/llama/llama.cpp"
# node-llama-cpp compiles through `npm run -s cmake-js-llama -- ARGS` (cd llama && cmake-js ARGS);
# the machine has Node but no npm, so a shim on PATH runs cmake-js itself.
mkdir -p /tmp/npm-shim
cat >/tmp/npm-shim/npm <<SHIM
#!/bin/sh
[ "\$1 \$2 \$3 \$4" = "run -s cmake-js-llama --" ] || { echo "npm shim: unsupported: \$*" >&2; exit 1; }
shift 4
cd "$NLC/llama" && exec node "$APP/node_modules/cmake-js/bin/cmake-js" "\$@"
SHIM
chmod +x /tmp/npm-shim/npm
export PATH=/tmp/npm-shim:$PATH
export NODE_LLAMA_CPP_CMAKE_OPTION_CMAKE_CUDA_ARCHITECTURES=90-real
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
(cd "$APP" && timeout "${BUILD_TIMEOUT:-480}" node node_modules/node-llama-cpp/dist/cli/cli.js \
  source build --gpu cuda --noUsageExample) >"$RES/build.log" 2>&1
echo "build rc=$? after $(elapsed)s"
grep -iE "error|warning: .*arch|CMAKE_CUDA_ARCHITECTURES|CUDA Toolkit|Compiled" "$RES/build.log" | head -20
tail -5 "$RES/build.log"
unset NODE_LLAMA_CPP_CMAKE_OPTION_CMAKE_CUDA_ARCHITECTURES
built=$(ls -d "$NLC"/llama/localBuilds/linux-x64-cuda-* 2>/dev/null | head -1)
if [ -n "$built" ] && [ -f "$built/buildDone.status" ]; then
  rm -rf "$NLC/llama/localBuilds/linux-x64-cuda"
  mkdir -p "$NLC/llama/localBuilds/linux-x64-cuda"
  mv "$built/Release" "$built/buildDone.status" "$NLC/llama/localBuilds/linux-x64-cuda/"
  rm -rf "$built"
  ls -la "$NLC/llama/localBuilds/linux-x64-cuda/Release"
  tar -C "$NLC/llama/localBuilds" -cf - linux-x64-cuda | xz -T16 -6 | split -b 15M - "$OUT/cudabuild.tar.xz.part-"
  ls -la "$OUT"
fi
