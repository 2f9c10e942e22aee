#!/usr/bin/env bash
# The GPU check, run on the lent device machine (NVIDIA H200, pip torch with CUDA, no Node,
# no network). Prepare here first:  npm run build && bash scripts/pack-for-device.sh
# then run with the device tool:    carry [".device"], command: bash scripts/gpu-check.sh
# It builds the addon against the machine's pip torch (CUDA), runs the CUDA test suites, the
# native benchmark on CUDA and an end-to-end `aeb run` with NVML energy, writing logs to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/aeb-gpu-out}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "[gpu-check +$(( $(date +%s) - t0 ))s] $*"; }

stamp "unpacking node, node_modules, dist, headers"
mkdir -p /tmp/nodebin && xz -dc .device/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
export PATH=/tmp/nodebin:$PATH
xz -dc .device/tree.tar.xz | tar -xf -
mkdir -p /tmp/node-headers && tar -xJf .device/node-headers.tar.xz -C /tmp/node-headers
export AEB_NODE_HEADERS=/tmp/node-headers/include/node
export AEB_STORIES260K_DIR=$PWD/.device/stories260K AEB_STORIES_BIN=$PWD/.device/stories260K/stories260K.bin
node --version

stamp "machine"
nvidia-smi --query-gpu=name,pci.bus_id,driver_version,memory.total,power.limit,clocks.sm,clocks.mem --format=csv | tee "$OUT/nvidia-smi.csv"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.utils.cmake_prefix_path)' | tee "$OUT/torch.txt"

stamp "native build against pip torch (CUDA)"
AEB_BUILD_JOBS=16 node scripts/install-native.mjs --force > "$OUT/build.log" 2>&1
build_rc=$?
tail -n 25 "$OUT/build.log"
cp build/Release/aeb-build-info.json "$OUT/" 2>/dev/null
if [ $build_rc -ne 0 ]; then stamp "BUILD FAILED ($build_rc)"; exit $build_rc; fi

stamp "CUDA tests + reference + NVML suites"
node node_modules/vitest/vitest.mjs run test/gpu test/native/reference-stories260k.test.ts test/native/nvml-fake.test.ts \
  --reporter=verbose > "$OUT/gpu-tests.log" 2>&1
tests_rc=$?
grep -E "✓|✗|×|FAIL|Test Files|Tests |\[gpu\]" "$OUT/gpu-tests.log" | tail -n 40

stamp "native benchmark on CUDA"
timeout 240 node scripts/bench-native.mjs --device cuda --bandwidth-gbps 4800 --runs 5 --tokens 256 > "$OUT/bench-native-cuda.log" 2>&1
echo "bench rc=$?"; tail -n 30 "$OUT/bench-native-cuda.log"

stamp "end-to-end aeb run on cuda with NVML energy"
timeout 120 node dist/cli/main.js run --device cuda --num-prompts 10 --idle-seconds 2 \
  --output-dir "$OUT/run" --json > "$OUT/aeb-run.json" 2> "$OUT/aeb-run.log"
echo "aeb run rc=$?"; tail -n 15 "$OUT/aeb-run.log"; head -c 3000 "$OUT/aeb-run.json"; echo
stamp "done (tests rc=$tests_rc)"
exit $tests_rc
