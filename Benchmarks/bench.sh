#!/usr/bin/env bash
# The Policy figures: N runs of `grpo bench --json` with OpenBLAS's kernel as the
# environment sets it, and N with OPENBLAS_CORETYPE unset (AVX-512 where the CPU
# has it: what PyTorch uses, so the fair comparison with the peer), as medians.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=.build/release/grpo
[ -x "$bin" ] || swift build -c release --product grpo
echo "== OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}"
for _ in $(seq "$runs"); do "$bin" bench --json --quiet; done | python3 Benchmarks/summarize.py
echo "== OPENBLAS_CORETYPE unset"
for _ in $(seq "$runs"); do env -u OPENBLAS_CORETYPE "$bin" bench --json --quiet; done | python3 Benchmarks/summarize.py
