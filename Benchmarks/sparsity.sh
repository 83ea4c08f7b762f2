#!/bin/bash
# The sparsity dial: at a fixed compute per token (the tiny shape, 2 routed experts a token
# plus the shared one), how does the number of routed experts in total change held-out loss
# and accuracy? Every run trains the same steps, batch and seed on the bundled arith
# demonstrations, so every E sees the same tokens; only n_routed_experts changes.
# For each E and seed:
#   init-model from Sources/Policy/Shapes/tiny.json with n_routed_experts = E;
#   sft with the demo's settings (make demo);
#   held-out loss: the SFT loss of the final model on 1000 demonstrations of problems that
#     no training demonstration has (see below);
#   accuracy: greedy `grpo eval` on arith's test split, and the same with the completion forced
#     to start working it out (--prefix '<think>\n'): after SFT greedy decoding answers at once,
#     the style of 65% of the demonstrations, and is mostly wrong, so the plain figure says little
#     about what was learnt; the worked style is the one GRPO later moves the policy to.
# Usage:
#   Benchmarks/sparsity.sh                       # E = 4 8 16 32, seed 0, 800 steps
#   EXPERTS="8 16" SEEDS="0 1" STEPS=400 Benchmarks/sparsity.sh
# Outputs go to runs/sparsity/steps$STEPS/eE-sSEED (a rerun removes only that folder; the held-out
# demonstrations in runs/sparsity/heldout are written again, the same each time) and
# docs/plots/sparsity.svg (PLOT=... elsewhere). One line per finished run on stderr; at the end
# a table on stderr and one JSON object on stdout, over every run under runs/sparsity/steps$STEPS,
# so a later call with more seeds adds to the same summary.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GRPO_BIN:-.build/release/grpo}
EXPERTS=${EXPERTS:-4 8 16 32} SEEDS=${SEEDS:-0} STEPS=${STEPS:-800} PLOT=${PLOT:-docs/plots/sparsity.svg}
BATCH=32 HELDOUT=1000
root=runs/sparsity/steps$STEPS
mkdir -p "$root"

# Held-out demonstrations: the bundled arith set is what `tasks generate arith --ops +- --sft 2000
# --direct-share 65 --seed 0` writes, so seed 1 draws demonstrations from the same distribution;
# those whose prompt is also a training prompt are dropped, and the first HELDOUT kept.
held=runs/sparsity/heldout
rm -rf "$held"
$BIN tasks generate arith --ops +- --sft 2000 --direct-share 65 --seed 1 --out "$held/generated" > /dev/null 2>&1
python3 - "$held/generated/sft.jsonl" Tasks/arith/sft.jsonl "$HELDOUT" > "$held/heldout.jsonl" <<'EOF'
import json, sys
seen = {json.loads(line)["prompt"] for line in open(sys.argv[2])}
kept = [line for line in open(sys.argv[1]) if json.loads(line)["prompt"] not in seen][:int(sys.argv[3])]
if len(kept) < int(sys.argv[3]):
    sys.exit(f"only {len(kept)} held-out demonstrations")
sys.stdout.writelines(kept)
EOF

for E in $EXPERTS; do
  for SEED in $SEEDS; do
    out=$root/e$E-s$SEED
    rm -rf "$out"; mkdir -p "$out"
    python3 -c 'import json, sys
c = json.load(open("Sources/Policy/Shapes/tiny.json"))
c["n_routed_experts"] = int(sys.argv[1])
json.dump(c, open(sys.argv[2], "w"), indent=2)' "$E" "$out/config.json"
    $BIN init-model --config "$out/config.json" --out "$out/init" --seed "$SEED" > "$out/init.txt" 2>&1
    start=$(date +%s%N)
    # One JSON line a step, so that the final training loss can be averaged over the last steps.
    $BIN sft --task_set arith --model "$out/init" --output_dir "$out/sft" --save_steps 100000 --logging_steps 1 \
      --max_steps "$STEPS" --per_device_train_batch_size "$BATCH" --learning_rate 2e-3 --warmup_steps 10 \
      --seed "$SEED" --json > "$out/sft.jsonl" 2> "$out/sft.log"
    echo "$(( ($(date +%s%N) - start) / 1000000 ))" > "$out/sft.ms"
    # Only final is evaluated; the resume state beside it is 3x the weights (Adam's moments).
    rm -rf "$out"/sft/checkpoint-*
    # The CLI has no evaluation loss, so the held-out loss is one SFT step from the final model on
    # all held-out demonstrations in one batch: the logged loss is computed before the update
    # (which, at lr 1e-12, is thrown away with its scratch folder anyway).
    $BIN sft --task_set "$held/heldout.jsonl" --model "$out/sft/final" --output_dir "$out/heldout-scratch" \
      --save_steps 100000 --logging_steps 1 --max_steps 1 --per_device_train_batch_size "$HELDOUT" \
      --learning_rate 1e-12 --warmup_steps 0 --json --quiet > "$out/heldout.json"
    rm -rf "$out/heldout-scratch"
    $BIN eval --model "$out/sft/final" --task_set arith --json > "$out/eval.json" 2> /dev/null
    $BIN eval --model "$out/sft/final" --task_set arith --json --prefix '<think>\n' \
      > "$out/eval-worked.json" 2> /dev/null
    python3 Benchmarks/sparsity.py run "$out" "$E" "$SEED" "$STEPS" "$BATCH"
  done
done
python3 Benchmarks/sparsity.py summary "$root" "$PLOT"
