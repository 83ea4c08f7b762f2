#!/usr/bin/env bash
# grpo against the reference CPU stack (PyTorch + transformers + TRL on the same
# tiny MoE shape, Glm4MoeForCausalLM: the same routing with plain attention), in
# one sitting, both sides with the environment a user has (no OPENBLAS_CORETYPE,
# no OPENBLAS_L2_SIZE). Prints each side's medians and the ratios as one JSON
# object on the last line; everything else goes to stderr.
#
#   Benchmarks/side_by_side.sh REFERENCE_DIR [RUNS]
#
# REFERENCE_DIR holds the reference harness: setup.sh (prints the Python of a venv with
# torch, transformers and trl) and trl/bench_generate.py, trl/bench_train.py,
# trl/grpo_run.py, each printing one JSON object with --json.
set -euo pipefail
cd "$(dirname "$0")/.."
reference=${1:?usage: Benchmarks/side_by_side.sh REFERENCE_DIR [RUNS]}
runs=${2:-5}
bin=.build/release/grpo
[ -x "$bin" ] || swift build -c release --product grpo >&2
py=$(bash "$reference/setup.sh")
out=runs/side-by-side   # each side's raw output stays here
mkdir -p "$out"
user() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u GRPO_BLAS_KERNEL "$@"; }
# grpo's runs wait for a quiet machine and are redone when disturbed (quiet.py); the reference
# harness has its own guard.
quiet() { python3 Benchmarks/quiet.py -- env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u GRPO_BLAS_KERNEL "$@"; }

echo "== grpo bench ($runs runs)" >&2
for _ in $(seq "$runs"); do quiet "$bin" bench --json --quiet; done > "$out/grpo-policy.jsonl"
echo "== reference: generate and train" >&2
user "$py" "$reference/trl/bench_generate.py" --variant mha --runs "$runs" --warmup 2 --json > "$out/reference-generate.json"
user "$py" "$reference/trl/bench_train.py" --variant mha --runs "$runs" --warmup 2 --json > "$out/reference-train.json"
echo "== grpo bench train" >&2
quiet "$bin" bench train --repeats $((2 * runs)) --json --quiet > "$out/grpo-train.json"
echo "== reference: TRL GRPOTrainer" >&2
user "$py" "$reference/trl/grpo_run.py" --variant mha --steps $((2 * runs + 1)) --json > "$out/reference-grpo.json"

python3 - "$out" <<'PY'
import json, statistics, sys
d = sys.argv[1]

def objects(name):
    """Every line of the file that is a JSON object (tools also print logs on stdout)."""
    found = []
    for line in open(f"{d}/{name}"):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    if not found:
        sys.exit(f"{d}/{name}: no JSON object")
    return found

ours = objects("grpo-policy.jsonl")
gen, train = objects("reference-generate.json")[-1], objects("reference-train.json")[-1]
step, trl = objects("grpo-train.json")[-1], objects("reference-grpo.json")[-1]
med = lambda k: statistics.median(r[k] for r in ours)
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
result = {
    "cpu": cpu, "grpo_cpu": ours[0]["cpu"], "blas_core": ours[0]["blas_core"],
    "blas_picked_by_openblas": ours[0]["blas_picked_by_openblas"], "torch": gen.get("torch"),
    "torch_cpu_capability": gen.get("cpu_capability"), "runs": len(ours),
    "sample_tokens_per_s": {"grpo": med("sample_tokens_per_s"), "reference": gen["gen_tokens_per_s"]},
    "train_tokens_per_s": {"grpo": med("train_tokens_per_s"), "reference": train["train_tokens_per_s"]},
    "logprob_tokens_per_s": {"grpo": med("logprob_tokens_per_s"), "reference": train["logprob_tokens_per_s"]},
    "grpo_step_s": {"grpo": step["step_s"], "reference": trl["median_step_s"]},
    "train_mfu": med("train_mfu"),
    "peak_rss_mb": {"grpo": med("peak_rss_mb"), "reference": train.get("peak_rss_mib")},
}
for k in ["sample_tokens_per_s", "train_tokens_per_s", "logprob_tokens_per_s"]:
    result[k]["ratio"] = round(result[k]["grpo"] / result[k]["reference"], 2)
result["grpo_step_s"]["ratio"] = round(result["grpo_step_s"]["reference"] / result["grpo_step_s"]["grpo"], 2)
print(json.dumps(result))
PY
