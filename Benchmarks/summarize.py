#!/usr/bin/env python3
"""Medians of several `grpo bench --json` runs (one JSON object per line on stdin).
Usage: for i in 1 2 3 4 5; do grpo bench --json; done | python3 Benchmarks/summarize.py"""
import json, statistics, sys

runs = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
if not runs:
    sys.exit("no benchmark results on stdin")
keys = ["sample_tokens_per_s", "sample_ms_per_decode_step", "train_tokens_per_s", "train_step_s", "train_mfu",
        "logprob_tokens_per_s", "sgemm_gflops", "peak_rss_mb"]
print(f"{len(runs)} runs, shape {runs[0]['shape']}, OpenBLAS core {runs[0]['blas_core']}")
for k in keys:
    values = [r[k] for r in runs if r.get(k) is not None]
    if values:
        print(f"  {k:28s} median {statistics.median(values):10.3f}   (min {min(values):.3f}, max {max(values):.3f})")
