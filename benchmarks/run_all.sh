#!/bin/sh
# Every benchmark figure in RESULTS.md, in one go (about 40 minutes on 2 cores). Run it on a quiet machine
# from anywhere; it writes the tables and JSON files next to this script.
set -e
cd "$(dirname "$0")/.."
export PYTHONPATH=.
B="python3 benchmarks/bench.py --quiet"
$B --sizes 1e7 --modes out --rounds 5 --markdown benchmarks/bench_1e7.md --json benchmarks/bench_1e7.json
$B step relu sigmoid tanh silu mish softmax log_softmax --sizes 1e4,1e5,1e6 --modes out --rounds 5 \
    --markdown benchmarks/bench_small.md --json benchmarks/bench_small.json
$B relu sigmoid tanh silu mish softmax --sizes 1e7 --modes alloc --rounds 3 \
    --markdown benchmarks/bench_alloc.md --json benchmarks/bench_alloc.json
$B sigmoid tanh silu softplus elu mish --sizes 1e7 --ops value_and_grad --modes out --threads 1 --rounds 5 \
    --markdown benchmarks/bench_fused.md --json benchmarks/bench_fused.json
$B --startup-only --markdown benchmarks/startup.md --json benchmarks/startup.json
