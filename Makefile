# swift-grpo: `make demo` and `make test` are all a new user needs.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/grpo
DEB_PACKAGES := libopenblas-dev libsqlite3-dev libpcre2-dev pkg-config python3

.PHONY: deps build demo test bench clean

# Installs the Debian packages only when one is missing (needs root or sudo).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing </dev/null; \
	fi

build: deps
	$(SWIFT) build -c release --product grpo

# The main job: from nothing, on the bundled arith set and the default shape:
# a random policy, an SFT cold start, held-out greedy accuracy, GRPO with the
# math rule set (format + answer), accuracy again; then where the traces are
# and three commands to inspect them. The last line is one JSON object.
DEMO := runs/demo
SFT_STEPS ?= 300
GRPO_STEPS ?= 60
demo: build
	@set -euo pipefail; start=$$(date +%s.%N); rm -rf $(DEMO) $(DEMO).sqlite $(DEMO).metrics.jsonl; \
	$(BIN) init-model --shape tiny --out $(DEMO)/init --seed 0; \
	$(BIN) sft --data arith --model $(DEMO)/init --output-dir $(DEMO)/sft --max-steps $(SFT_STEPS) --batch-size 32 \
	  --learning-rate 2e-3 --warmup-steps 10 --logging-steps 25 --save-steps 1000; \
	$(BIN) eval --checkpoint $(DEMO)/sft/final --tasks arith --json > $(DEMO)/sft-eval.json; \
	echo "after SFT: $$(cat $(DEMO)/sft-eval.json)"; \
	$(BIN) train --model $(DEMO)/sft/final --task_set arith --run_name demo --output_dir $(DEMO)/grpo --db $(DEMO).sqlite \
	  --max_steps $(GRPO_STEPS) --prompts_per_step 8 --num_generations 8 --learning_rate 1e-5 --temperature 1.0 \
	  --save_steps 1000 --eval_limit 50; \
	$(BIN) eval --checkpoint $(DEMO)/grpo/final --tasks arith --json > $(DEMO)/grpo-eval.json; \
	echo "after GRPO: $$(cat $(DEMO)/grpo-eval.json)"; \
	echo "traces: $(DEMO).sqlite; try:"; \
	echo "  $(BIN) traces steps --db $(DEMO).sqlite"; \
	echo "  $(BIN) traces samples --db $(DEMO).sqlite --rule answer --above 0.5 --order advantage"; \
	echo "  $(BIN) traces sql --db $(DEMO).sqlite \"SELECT step, rule, pass_rate FROM rule_pass_rate WHERE rule = 'answer' ORDER BY step\""; \
	python3 -c 'import json, sys, time; s = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2])); \
	print(json.dumps({"sft_accuracy": s["accuracy"], "grpo_accuracy": g["accuracy"], "test_size": g["tasks"], \
	"database": sys.argv[3], "seconds": round(time.time() - float(sys.argv[4]), 1)}))' \
	  $(DEMO)/sft-eval.json $(DEMO)/grpo-eval.json $(DEMO).sqlite $$start

test: deps
	$(SWIFT) build -c release --product grpo
	$(SWIFT) test -c release --disable-swift-testing

bench: build
	$(BIN) bench --json

clean:
	rm -rf .build runs
