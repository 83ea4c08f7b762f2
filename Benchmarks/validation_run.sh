#!/bin/bash
# One demo-style experiment on a validation split carved from train, so that choosing
# sizes and settings never touches a task set's test split:
#   generate a set, test := the first 200 train problems, train := the rest;
#   SFT from a random tiny policy, evaluate (greedy, sampled pass@8, and greedy with
#   each forcing prefix), GRPO, evaluate again.
# Usage:
#   Benchmarks/validation_run.sh NAME SEED SFT_STEPS GRPO_STEPS "GENERATOR ARGS" ["PREFIX|PREFIX"]
#     ["EXTRA SFT FLAGS"] ["EXTRA GRPO FLAGS"]
# e.g.
#   Benchmarks/validation_run.sh mix65 0 800 120 "arith --ops +- --sft 2000 --direct-share 65" \
#     '<think>\n|<think></think>'
# Outputs go to runs/validation/NAME; one line per evaluation on stdout. GRPO_STEPS 0 stops after SFT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GRPO_BIN:-.build/release/grpo}
NAME=$1 SEED=$2 SFT_STEPS=$3 GRPO_STEPS=$4 GENERATOR=$5 PREFIXES=${6:-} SFT_FLAGS=${7:-} GRPO_FLAGS=${8:-}
out=runs/validation/$NAME
rm -rf "$out" "$out.sqlite" "$out.sqlite-wal" "$out.sqlite-shm" "$out.metrics.jsonl"; mkdir -p "$out/tasks"
# shellcheck disable=SC2086
$BIN tasks generate $GENERATOR --out "$out/generated" --seed "$SEED" > /dev/null 2>&1
cp "$out/generated/task.yaml" "$out/generated/sft.jsonl" "$out/tasks/"
head -200 "$out/generated/train.jsonl" > "$out/tasks/test.jsonl"
tail -n +201 "$out/generated/train.jsonl" > "$out/tasks/train.jsonl"
sed -i "s/^name: .*/name: $NAME/" "$out/tasks/task.yaml"
tasks=$out/tasks start=$(date +%s)

evaluate() {  # CHECKPOINT LABEL [eval flags]
  $BIN eval --model "$1" --task_set "$tasks" --json "${@:3}" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
rates = " ".join("%s %.3f" % kv for kv in sorted(r["rule_pass_rates"].items()))
k = "" if r.get("pass_at_k") is None else " pass@%d %.3f" % (r["k"], r["pass_at_k"])
print("%s: accuracy %.3f%s mean length %.1f (%s)" % (sys.argv[1], r["accuracy"], k, r["mean_length"], rates))' "$NAME $2"
}
each_prefix() {  # CHECKPOINT STAGE
  IFS='|' read -ra forced <<< "$PREFIXES"
  for p in "${forced[@]}"; do [ -n "$p" ] && evaluate "$1" "$2 forced '$p'" --prefix "$p"; done
  return 0
}

$BIN init-model --shape tiny --out "$out/init" --seed "$SEED" > /dev/null 2>&1
# shellcheck disable=SC2086
$BIN sft --task_set "$tasks" --model "$out/init" --output_dir "$out/sft" --save_steps 100000 --logging_steps 100 \
  --max_steps "$SFT_STEPS" --per_device_train_batch_size 32 --learning_rate 2e-3 --warmup_steps 10 --seed "$SEED" \
  $SFT_FLAGS \
  > "$out/sft.log" 2>&1
evaluate "$out/sft/final" "SFT" --k 8
each_prefix "$out/sft/final" "SFT"
if [ "$GRPO_STEPS" -gt 0 ]; then
  # shellcheck disable=SC2086
  $BIN train --model "$out/sft/final" --task_set "$tasks" --run_name "$NAME" --output_dir "$out/grpo" \
    --db "$out.sqlite" --save_steps 100000 --max_steps "$GRPO_STEPS" --prompts_per_step 8 --num_generations 8 \
    --learning_rate 2e-5 --temperature 1.0 --eval_limit 50 --lr_scheduler_type constant --adam_beta2 0.99 \
    --seed "$SEED" --quiet $GRPO_FLAGS > "$out/grpo.log" 2>&1
  evaluate "$out/grpo/final" "GRPO" --k 8
  each_prefix "$out/grpo/final" "GRPO"
fi
echo "$NAME: $(( $(date +%s) - start )) s"
