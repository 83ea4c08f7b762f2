#!/usr/bin/env bash
# The policy figures, as medians of N runs of `grpo bench --json` each way:
#   as a user runs it (OPENBLAS_CORETYPE unset: grpo chooses the kernel, see `grpo blas`),
#   with the choice off (GRPO_BLAS_KERNEL=off: whatever OpenBLAS picks by itself),
#   and with OPENBLAS_CORETYPE as this environment sets it, when it sets it.
# Each run waits for a quiet machine and is redone when another process took the CPUs (quiet.py).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=.build/release/grpo
q="python3 Benchmarks/quiet.py --"
[ -x "$bin" ] || swift build -c release --product grpo
echo "== OPENBLAS_CORETYPE unset"
for _ in $(seq "$runs"); do $q env -u OPENBLAS_CORETYPE "$bin" bench --json --quiet; done | python3 Benchmarks/summarize.py
echo "== OPENBLAS_CORETYPE unset, GRPO_BLAS_KERNEL=off"
for _ in $(seq "$runs"); do
  $q env -u OPENBLAS_CORETYPE GRPO_BLAS_KERNEL=off "$bin" bench --json --quiet
done | python3 Benchmarks/summarize.py
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "== OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
  for _ in $(seq "$runs"); do $q "$bin" bench --json --quiet; done | python3 Benchmarks/summarize.py
fi
