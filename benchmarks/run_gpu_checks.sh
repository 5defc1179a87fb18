#!/usr/bin/env bash
# The CUDA path in one go, for a machine with a GPU: the CUDA tests, then throughput and
# the reconstruction benchmark on the GPU. Usage: bash benchmarks/run_gpu_checks.sh [OUTDIR]
# Needs skae's dependencies installed (or on PYTHONPATH); Fashion-MNIST via
# SKAE_FASHION_MNIST or the Debian package for the benchmarks.
set -uo pipefail
out=${1:-benchmarks/results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_torch_dataset.py 2>&1 | tee "$out/cuda_tests.log"
python3 benchmarks/bench_gpu_throughput.py --image-size 128 --n 20000 --epochs 2 2>&1 | tee "$out/gpu_throughput_128.log"
python3 benchmarks/bench_gpu_throughput.py --image-size 28 --n 60000 --epochs 2 2>&1 | tee "$out/gpu_throughput_28.log"
if [ "${SKAE_GPU_RECONSTRUCTION:-0}" = 1 ]; then
  python3 benchmarks/bench_reconstruction.py --device cuda 2>&1 | tee "$out/reconstruction_cuda.log"
fi
