#!/usr/bin/env bash
# Runs lowbit's CUDA tests and benchmark on a machine with an NVIDIA GPU, beside PyTorch's baselines, in one go.
# Prepare on the build machine first with kernels-gpu/bench/prepare-device.sh, copy the working tree with .device/
# to the GPU machine, and run this script there from the repository root.
# Results (test report, baselines, the table for docs/gpu.md) are written under $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/lowbit-cuda-out}
mkdir -p "$OUT" /tmp/jre
tar xJf .device/jre.txz -C /tmp
export PATH=/tmp/jre/bin:$PATH
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/device.csv" || true
CP='.device/lib/*:.device/test-classes'
JAVA="java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dlowbit.cuda.cache=/tmp/lowbit-cubin"
# 1. Correctness first: the GPU tests against the scalar reference.
$JAVA -cp "$CP" dev.lowbit.kernels.gpu.cuda.GpuTestMain > "$OUT/tests.txt" 2>&1 || echo "GPU tests failed: see tests.txt"
tail -30 "$OUT/tests.txt"
# 2. PyTorch baselines, then lowbit's benchmark, which prints them side by side.
python3 kernels-gpu/bench/cuda_baselines.py "$OUT/torch-baselines.txt"
$JAVA -cp "$CP" dev.lowbit.kernels.gpu.cuda.CudaBench "$OUT/torch-baselines.txt" "$OUT/cuda-bench.md"
