#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .gpu/ (pack-gpu.sh) and .cuda/
# (prep-cuda-source.sh) carried: the ceiling for servelab on this GPU. Builds llama.cpp's own
# llama-bench and llama-batched-bench with CUDA for sm_90 from the same source node-llama-cpp
# ships, makes the synthetic models, and runs both benches. Output goes to $OUT as it comes:
#   machine.txt, build.log, synth.log, bench.txt (every bench's command line and output).
set -u
export T0=$(date +%s)
source scripts/h200/lib.sh
export PATH=$PATH:/usr/local/cuda/bin
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  nproc
  cat "$REPO/.gpu/versions.txt"
} >"$OUT/machine.txt" 2>&1
src=/tmp/llama.cpp
rm -rf $src && mkdir -p $src && tar -xJf "$REPO/.cuda/llama.cpp.tar.xz" -C $src
# The models are made while llama.cpp compiles.
(
  model deepseek-r1-distill-qwen-1.5b q8_0
  model deepseek-r1-distill-qwen-1.5b f32
) >"$OUT/synth.log" 2>&1 &
synth=$!
{
  cmake -S $src -B $src/build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DLLAMA_CURL=OFF \
    -DCMAKE_BUILD_TYPE=Release
  timeout "${BUILD_TIMEOUT:-400}" cmake --build $src/build --target llama-bench llama-batched-bench -j16
  echo "build rc=$? after $(elapsed)s"
} >"$OUT/build.log" 2>&1
tail -3 "$OUT/build.log"
wait $synth
echo "models ready after $(elapsed)s"
bin=$src/build/bin
q8=$(model deepseek-r1-distill-qwen-1.5b q8_0)
f32=$(model deepseek-r1-distill-qwen-1.5b f32)
b() { # b SECONDS COMMAND...: run one bench, its command line and output into bench.txt
  local t=$1
  shift
  echo "### $* (after $(elapsed)s)" | sed "s|$bin/||" >>"$OUT/bench.txt"
  timeout "$t" "$@" 2>&1 | grep -v "^load\|^llama_\|^print_info\|^gguf\|^ggml_backend\|^common_\|^sched_" >>"$OUT/bench.txt"
  echo >>"$OUT/bench.txt"
}
$bin/llama-batched-bench --help 2>&1 | grep -E "kv-unified|flash-attn|-npl|-ntg|-npp" >>"$OUT/bench.txt"
b 120 $bin/llama-bench -m "$q8" -ngl 99 -p 128 -n 128 -fa 0,1 -r 3
b 150 $bin/llama-bench -m "$f32" -ngl 99 -p 128 -n 128 -fa 0,1 -r 3
for extra in "" "-kvu" "-fa off" "-kvu -fa off"; do
  # shellcheck disable=SC2086
  b 120 $bin/llama-batched-bench -m "$q8" -ngl 99 -c 40960 -npp 128 -ntg 128 -npl 1,4,8,16,32 $extra
done
b 150 $bin/llama-batched-bench -m "$f32" -ngl 99 -c 40960 -npp 128 -ntg 128 -npl 1,4,8,16,32
echo "done after $(elapsed)s"
