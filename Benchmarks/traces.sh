#!/usr/bin/env bash
# The Traces figures: N runs of `grpo bench traces --json` (each writes 1,000,000
# synthetic samples with 3 rule scores each, then times every `grpo traces
# samples` filter 5 times), as medians. query_ms_1m is the slowest filter.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=.build/release/grpo
[ -x "$bin" ] || swift build -c release --product grpo
for _ in $(seq "$runs"); do "$bin" bench traces --json --quiet; done | python3 Benchmarks/summarize.py
