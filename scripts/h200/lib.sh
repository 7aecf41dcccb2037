# Sourced by the scripts beside it, on the GPU machine, from the repository root, with .gpu/
# (pack-gpu.sh) or .device/ (../shared/device/pack.sh) carried (docs/benchmarks/h200.md has the calls).
# Unpacks the project once per machine, then offers model() and serve_bench().
REPO=${REPO:-$PWD}
RES=${RES:-/tmp/h200-results}
mkdir -p "$RES"
if [ -d "$REPO/.gpu" ]; then
  # The slim carry (scripts/h200/pack-gpu.sh): Node, production node_modules without
  # node-llama-cpp's prebuilt binaries, dist/, and the CUDA build; the other files of the project
  # come with the working tree.
  if [ ! -x /tmp/device-node/bin/node ]; then
    mkdir -p /tmp/device-node/bin /tmp/device-app
    xz -dc "$REPO/.gpu/node.xz" >/tmp/device-node/bin/node && chmod +x /tmp/device-node/bin/node
    tar -xJf "$REPO/.gpu/node_modules.tar.xz" -C /tmp/device-app
  fi
  tar -C "$REPO" --exclude=./.gpu --exclude=./.device --exclude=./.cuda -cf - . | tar -C /tmp/device-app -xf -
  GPU_CARRY=$REPO/.gpu
else
  bash "$REPO/.device/run.sh" true
  GPU_CARRY=$REPO/.cuda
fi
export PATH=/tmp/device-node/bin:$PATH
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
APP=/tmp/device-app
NLC=$APP/node_modules/node-llama-cpp
CLI="node $APP/dist/cli/servelab.cjs"
T0=${T0:-$(date +%s)}
# dist/: the copy in .gpu/ (pack-gpu.sh), or a newer dist/ carried with the call.
if [ -d "$REPO/.gpu/dist" ]; then mkdir -p "$APP/dist" && cp -r "$REPO/.gpu/dist/." "$APP/dist/"; fi
if [ -d "$REPO/dist" ]; then cp -r "$REPO/dist/." "$APP/dist/"; fi
mkdir -p "$APP/scripts/h200" && cp "$REPO"/scripts/h200/*.mjs "$APP/scripts/h200/"
elapsed() { echo $(($(date +%s) - T0)); }

# A CUDA build brought back from an earlier call (scripts/h200/build-cuda.sh) goes where
# getLlama({ gpu: "cuda" }) looks for local builds.
if [ ! -f "$NLC/llama/localBuilds/linux-x64-cuda/Release/llama-addon.node" ] &&
  ls "$GPU_CARRY"/cudabuild.tar.xz.part-* >/dev/null 2>&1; then
  mkdir -p "$NLC/llama/localBuilds"
  cat "$GPU_CARRY"/cudabuild.tar.xz.part-* | xz -dc | tar -C "$NLC/llama/localBuilds" -xf -
fi

# model PRESET TYPE: a synthetic model of the preset's shape, made once per machine.
model() {
  local f=/tmp/models/$1-$2.gguf
  if [ ! -f "$f" ]; then mkdir -p /tmp/models && $CLI synth "$1" --type "$2" -o "$f" >&2; fi
  echo "$f"
}

# serve_bench LABEL MODEL GPU PARALLEL CONCURRENCIES [serve flags...]
# One server (node flags from SERVE_NODE_FLAGS, e.g. --cpu-prof), then one bench per concurrency
# (synthetic 128 in / 128 out, ignore_eos);
# one line per level goes to $RES/summary.tsv.
serve_bench() {
  local label=$1 m=$2 gpu=$3 par=$4 concs=$5
  shift 5
  local port=18000 pid c n
  # shellcheck disable=SC2086
  node ${SERVE_NODE_FLAGS:-} "$APP/dist/cli/servelab.cjs" serve --model "$m" --gpu "$gpu" --parallel "$par" \
    --port $port --max-queue 4096 "$@" \
    >"$RES/$label.serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$RES/$label.serve.log" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q "listening on" "$RES/$label.serve.log"; then
    echo "[$label] serve failed:"; tail -20 "$RES/$label.serve.log"; kill $pid 2>/dev/null; return 1
  fi
  grep -E "device|context|load time|memory" "$RES/$label.serve.log" | sed "s/^/[$label] /"
  for c in ${concs//,/ }; do
    n=$((c * 2 > 16 ? c * 2 : 16))
    $CLI bench --url "http://127.0.0.1:$port/v1" --concurrency "$c" --workload synthetic \
      --input-tokens 128 --max-tokens 128 --requests "$n" --warmup "$c" \
      --out "$RES/$label-c$c" ${BENCH_EXTRA:+--extra "$BENCH_EXTRA"} >"$RES/$label-c$c.txt" 2>&1
    node "$REPO/scripts/h200/summarize.mjs" "$label" "$RES/$label-c$c/results.json" | tee -a "$RES/summary.tsv"
  done
  kill $pid
  wait $pid 2>/dev/null
  return 0
}

# pack_results: everything under $RES as one file in $OUT (the tool brings back 8 files at most).
pack_results() { tar -C "$(dirname "$RES")" -cJf "$OUT/results-$(date +%H%M%S).tar.xz" "$(basename "$RES")"; }
