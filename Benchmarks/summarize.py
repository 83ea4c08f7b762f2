#!/usr/bin/env python3
"""Medians of several `grpo bench ... --json` runs (one JSON object per line on stdin):
every numeric field, nested ones (query_ms.step) flattened.
Usage: for i in 1 2 3 4 5; do grpo bench --json; done | python3 Benchmarks/summarize.py"""
import json, statistics, sys

runs = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
if not runs:
    sys.exit("no benchmark results on stdin")

def flat(obj, prefix=""):
    for k, v in obj.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield prefix + k, v

header = f"{len(runs)} runs"
if "shape" in runs[0]:
    header += f", shape {runs[0]['shape']}, OpenBLAS core {runs[0]['blas_core']}"
    if "blas_picked_by_openblas" in runs[0]:
        header += f" ({runs[0]['blas_selection']}; OpenBLAS picked {runs[0]['blas_picked_by_openblas']})"
    if "cpu" in runs[0]:
        header += f", {runs[0]['cpu']}"
print(header)
values = {}
for r in runs:
    for k, v in flat(r):
        values.setdefault(k, []).append(v)
for k in sorted(values):
    v = values[k]
    print(f"  {k:36s} median {statistics.median(v):12.3f}   (min {min(v):.3f}, max {max(v):.3f})")
