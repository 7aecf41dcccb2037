#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .gpu/ (pack-gpu.sh) carried, and .cuda/
# (prep-cuda-source.sh) too when .gpu/ holds no CUDA build yet: servelab against node-llama-cpp
# alone on the same CUDA build, to place the gap to llama.cpp's own figures (llama-bench.sh).
#   1. builds node-llama-cpp's CUDA addon for sm_90 if not carried (build-cuda.sh; parts to $OUT)
#   2. serve_bench at c=1,4,16,32 (Q8_0, 128 in / 128 out, --parallel 32 --ctx-size 1024)
#   3. raw-decode.mjs at 1, 4 and 32 sequences (GAP_RAW=0 skips it)
#   4. what GAP_EXTRA names, in its order, while time is left:
#      prof      V8 CPU profiles of the server at c=1 and c=32
#      threads4 threads1 batch fa   serve_bench at c=1,32 with --threads 4 / 1, --batch-size 2048, --flash-attn
#      order     raw-order.mjs: the cost of the order in which sequences queue their decodes
#      sorted    the engine change of patch-step-order.mjs laid over dist/, then serve_bench at c=1,4,16,32
#                (every later item runs with it; patch: only lay it over). Only for a dist/ built
#                before 1dd2a16, which committed the change: the patch refuses a later one.
#      sorted-fa the same with --flash-attn, c=1,32 (sorted-fa-all: c=1,4,16,32; sorted-fa-64: --parallel 64, c=64)
#      uv16 uv16-threads4  UV_THREADPOOL_SIZE=16 (and --threads 4), c=1,32
#      f32       F32, c=1,32
#      search-q8 the largest concurrency with p95 ITL <= 50 ms (with the patch: 16:128, --flash-attn)
#      search-f32 the same for F32 (--parallel 64, 4:64, 64 requests a level)
#      compare-precision compare-models  `servelab compare --preset precision|models` as in docs/benchmarks/h200.md
#                (reports also to $OUT/compare-*.{md,html})
#      raw-serial raw-parallel raw-parallel-uv1 raw-parallel-uv16  raw-order.mjs sorted at 1,4,16,32 with the addon's
#                candidate copy under the context lock (NODE_LLAMA_CPP_SERIAL_SAMPLING=1, as shipped), in parallel
#                (servelab's patch, build-cuda.sh), and in parallel with a libuv pool of 1 or 16
#      serial parallel parallel-uv8 parallel-uv16  serve_bench c=1,4,16,32 the same ways
#      f32-uv16 search-q8-uv16 search-f32-uv16  F32 c=1,32 and the capacity searches (16:128) with a pool of 16
#      Set GAP_BASE=0 to skip steps 2 and 3.
# GAP_SYNTH="f32 f16 ..." makes those precisions of the model (and phi3-q8_0: Phi-3-mini Q8_0) in the
# background from the start, into SERVELAB_CACHE=/tmp's cache, where compare finds them; the Q8_0 and
# F32 ones are waited for before the first bench, the others before a compare.
# Output: $OUT/log.txt as it comes, $OUT/results.tar.xz (all of $RES, repacked after each step).
set -u
export T0=$(date +%s)
source scripts/h200/lib.sh
exec > >(tee -a "$OUT/log.txt") 2>&1
save() { tar -C "$(dirname "$RES")" -cf - "$(basename "$RES")" | xz -T0 -3 >"$OUT/results.tar.xz"; }
before() { [ "$(elapsed)" -lt "$1" ] || { echo "skipped ($1 s passed): $2"; false; }; }
# search LABEL MODEL PARALLEL RANGE REQUESTS [serve flags...]: the largest concurrency whose
# p95 inter-token latency stays within 50 ms (bench's capacity search, one trial a level).
search() {
  local label=$1 m=$2 par=$3 range=$4 n=$5 pid
  shift 5
  node "$APP/dist/cli/servelab.cjs" serve --model "$m" --gpu cuda --parallel "$par" --port 18001 --max-queue 4096 \
    --ctx-size 1024 "$@" >"$RES/$label.serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$RES/$label.serve.log" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
  done
  timeout "${SEARCH_TIMEOUT:-240}" $CLI bench --url http://127.0.0.1:18001/v1 --workload synthetic \
    --input-tokens 128 --max-tokens 128 --requests "$n" --find-max-concurrency --slo itl=50ms \
    --slo-percentile 95 --search-range "$range" --search-trials 1 --out "$RES/$label" >"$RES/$label.txt" 2>&1
  echo "[$label] search rc=$? after $(elapsed)s"
  grep -v "run 1/1" "$RES/$label.txt" | tail -25
  kill $pid
  wait $pid 2>/dev/null
}
m=deepseek-r1-distill-qwen-1.5b
export SERVELAB_CACHE=/tmp # compare's cache folder is then /tmp/models, where model() writes
model $m q8_0 >"$RES/synth.log" 2>&1 &
synth=$!
declare -A synths=()
for t in ${GAP_SYNTH:-}; do
  case $t in
    phi3-*) (model phi-3-mini-4k "${t#phi3-}" >/dev/null && echo "synth $t done after $(elapsed)s") >>"$RES/synth.log" 2>&1 & ;;
    *) (model $m "$t" >/dev/null && echo "synth $t done after $(elapsed)s") >>"$RES/synth.log" 2>&1 & ;;
  esac
  synths[$t]=$!
done
if [ ! -f "$NLC/llama/localBuilds/linux-x64-cuda/Release/llama-addon.node" ]; then
  BUILD_TIMEOUT=${BUILD_TIMEOUT:-360} bash scripts/h200/build-cuda.sh
fi
wait $synth
[ -n "${synths[f32]:-}" ] && wait "${synths[f32]}"
q8=$(model $m q8_0)
echo "model ready after $(elapsed)s"
cat "$RES/synth.log"
if [ "${GAP_BASE:-1}" = 1 ]; then
  serve_bench cuda-q8 "$q8" cuda 32 1,4,16,32 --ctx-size 1024
  save
  echo "serve_bench done after $(elapsed)s"
  [ "${GAP_RAW:-1}" = 1 ] && timeout 90 node "$APP/scripts/h200/raw-decode.mjs" "$q8" cuda 1,4,32 sample 2>&1 | grep -v "^\[node-llama-cpp\]" | tee -a "$RES/raw.txt"
  save
fi
for x in ${GAP_EXTRA:-}; do
  case $x in
    prof) # V8 CPU profiles of the server, one at c=1 and one at c=32
      for c in 1 32; do
        before 520 "prof c=$c" &&
          SERVE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=$RES/prof-c$c" serve_bench prof-c$c "$q8" cuda 32 $c --ctx-size 1024
      done ;;
    threads4 | threads1)
      before 520 "$x" && serve_bench cuda-q8-$x "$q8" cuda 32 1,32 --ctx-size 1024 --threads "${x#threads}" ;;
    batch)
      before 520 "$x" && serve_bench cuda-q8-batch2048 "$q8" cuda 32 1,32 --ctx-size 1024 --batch-size 2048 ;;
    fa)
      before 520 "$x" && serve_bench cuda-q8-fa "$q8" cuda 32 1,32 --ctx-size 1024 --flash-attn ;;
    order)
      before 500 "$x" && timeout 150 node "$APP/scripts/h200/raw-order.mjs" "$q8" cuda 1,4,16,32 sorted,reversed,shuffled 2>&1 |
        grep -v "^\[node-llama-cpp\]" | tee -a "$RES/raw.txt" ;;
    order-fa)
      before 520 "$x" && timeout 60 node "$APP/scripts/h200/raw-order.mjs" "$q8" cuda 1,32 sorted,shuffled fa 2>&1 |
        grep -v "^\[node-llama-cpp\]" | tee -a "$RES/raw.txt" ;;
    sorted)
      before 500 "$x" && { [ -n "${patched:-}" ] || node "$REPO/scripts/h200/patch-step-order.mjs" "$APP/dist"; } && patched=1 &&
        serve_bench cuda-q8-sorted "$q8" cuda 32 1,4,16,32 --ctx-size 1024 ;;
    patch) # the engine change only, for the items after it
      [ -n "${patched:-}" ] || node "$REPO/scripts/h200/patch-step-order.mjs" "$APP/dist" && patched=1 ;;
    sorted-fa | sorted-fa-all)
      [ -n "${patched:-}" ] || node "$REPO/scripts/h200/patch-step-order.mjs" "$APP/dist" && patched=1
      before 530 "$x" && serve_bench cuda-q8-$x "$q8" cuda 32 "$([ $x = sorted-fa ] && echo 1,32 || echo 1,4,16,32)" \
        --ctx-size 1024 --flash-attn ;;
    sorted-fa-64)
      before 530 "$x" && serve_bench cuda-q8-$x "$q8" cuda 64 64 --ctx-size 1024 --flash-attn ;;
    uv16 | uv16-threads4) # a libuv pool of 16 threads for sampling; with --threads 4 for llama.cpp's own
      export UV_THREADPOOL_SIZE=16
      before 530 "$x" && serve_bench cuda-q8-${patched:+sorted-fa-}$x "$q8" cuda 32 1,32 --ctx-size 1024 \
        ${patched:+--flash-attn} $([ $x = uv16 ] || echo --threads 4)
      unset UV_THREADPOOL_SIZE ;;
    f32)
      before 500 "$x" && serve_bench cuda-f32${patched:+-sorted} "$(model $m f32)" cuda 32 1,32 --ctx-size 1024 ;;
    search-q8) # unpatched: 4:64 (4 passes: p95 under 17 ms); patched: 16:128, 128 requests a level
      if [ -z "${patched:-}" ]; then
        before 400 "$x" && search search-q8 "$q8" 64 4:64 64
      else
        before 450 "$x" && search search-q8-sorted-fa "$q8" 128 16:128 128 --flash-attn
      fi ;;
    search-f32)
      before 450 "$x" && search search-f32 "$(model $m f32)" 64 4:64 64 ;;
    compare-precision | compare-models)
      for p in "${synths[@]}"; do wait "$p"; done
      cat "$RES/synth.log"
      before 480 "$x" && {
        # results straight into $OUT (written as measured, so a call that times out still brings them back);
        # the progress lines go to the log as they come
        timeout $((${GAP_DEADLINE:-570} - $(elapsed))) $CLI compare --preset "${x#compare-}" \
          $([ $x = compare-precision ] && echo --precision "${COMPARE_PRECISION:-f32,f16,bf16,q8_0,q4_0}") --gpu cuda \
          --serve-option ctx-size=1024 -o "$OUT/$x" 2>&1 | tr '\r' '\n' | tee "$RES/$x.txt"
        echo "[$x] rc=${PIPESTATUS[0]} after $(elapsed)s"
        cp "$OUT/$x/report.md" "$OUT/$x.md" && cp "$OUT/$x/report.html" "$OUT/$x.html"
      } ;;
    raw-serial | raw-parallel | raw-parallel-uv1 | raw-parallel-uv16) # node-llama-cpp alone, sorted, with the
      # addon's candidate copy under the context's lock (NODE_LLAMA_CPP_SERIAL_SAMPLING=1, as shipped) or in
      # parallel (the patch), with libuv's default pool of 4, one thread, or 16
      before 520 "$x" && env $([ $x = raw-serial ] && echo NODE_LLAMA_CPP_SERIAL_SAMPLING=1) \
        $([ $x = raw-parallel-uv16 ] && echo UV_THREADPOOL_SIZE=16) $([ $x = raw-parallel-uv1 ] && echo UV_THREADPOOL_SIZE=1) \
        timeout 60 node "$APP/scripts/h200/raw-order.mjs" "$q8" cuda 1,4,16,32 sorted 2>&1 |
        grep -v "^\[node-llama-cpp\]" | sed "s/^/[$x] /" | tee -a "$RES/raw.txt" ;;
    serial | parallel | parallel-uv16 | parallel-uv8) # servelab, c=1,4,16,32, the same three ways
      before 500 "$x" && (
        [ $x = serial ] && export NODE_LLAMA_CPP_SERIAL_SAMPLING=1
        [ $x = parallel-uv16 ] && export UV_THREADPOOL_SIZE=16
        [ $x = parallel-uv8 ] && export UV_THREADPOOL_SIZE=8
        serve_bench cuda-q8-$x "$q8" cuda 32 1,4,16,32 --ctx-size 1024
      ) ;;
    f32-uv16)
      before 500 "$x" && UV_THREADPOOL_SIZE=16 serve_bench cuda-f32-uv16 "$(model $m f32)" cuda 32 1,32 --ctx-size 1024 ;;
    search-q8-uv16 | search-f32-uv16) # the largest concurrency with p95 ITL <= 50 ms, 16:128
      export UV_THREADPOOL_SIZE=16
      [ $x = search-q8-uv16 ] && before 420 "$x" && search $x "$q8" 128 16:128 128
      [ $x = search-f32-uv16 ] && before 420 "$x" && search $x "$(model $m f32)" 128 16:128 128
      unset UV_THREADPOOL_SIZE ;;
    raw-threads4)
      before 540 "$x" && RAW_THREADS=4 timeout 60 node "$APP/scripts/h200/raw-decode.mjs" "$q8" cuda 1,32 sample 2>&1 |
        grep -v "^\[node-llama-cpp\]" | tee -a "$RES/raw.txt" ;;
  esac
  save
done
echo "done after $(elapsed)s"
