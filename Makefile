# swift-grpo: `make demo` and `make test` are all a new user needs.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/grpo
# libjs-chart.js: the charts of `grpo traces serve`, read from its files at run time.
DEB_PACKAGES := libopenblas-dev libsqlite3-dev libpcre2-dev pkg-config python3 libjs-chart.js
# What only the tests need: the browser that loads the trace viewer's pages.
TEST_DEB_PACKAGES := chromium

PREFIX ?= /usr/local
SHARE := $(PREFIX)/share/swift-grpo

.PHONY: deps test-deps build install demo demo-code test test-debug lint format bench clean

# Installs the Debian packages only when one is missing (needs root or sudo).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing </dev/null; \
	fi

test-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(TEST_DEB_PACKAGES)"

build: deps
	$(SWIFT) build -c release --product grpo

# PREFIX=/usr/local (default): the release binary as $(PREFIX)/bin/grpo, beside it the
# resource bundles SwiftPM looks for next to the executable (the model shapes, the trace
# viewer's pages), and the shipped rule and task sets under $(SHARE), where grpo finds them
# from any folder (after ./Rewards, ./Tasks and $$GRPO_HOME; see README).
install: build
	install -d $(PREFIX)/bin $(SHARE)
	install -m 755 $(BIN) $(PREFIX)/bin/grpo
	rm -rf $(PREFIX)/bin/swift-grpo_Policy.resources $(PREFIX)/bin/swift-grpo_TraceViewer.resources \
	  $(SHARE)/Rewards $(SHARE)/Tasks
	cp -R $(dir $(BIN))swift-grpo_Policy.resources $(dir $(BIN))swift-grpo_TraceViewer.resources $(PREFIX)/bin/
	cp -R Rewards Tasks $(SHARE)/
	@echo "installed $(PREFIX)/bin/grpo; rule and task sets in $(SHARE)"

# The main job: from nothing, on the bundled arith set and the default shape:
# a random policy, an SFT cold start on demonstrations that either answer at
# once or work the problem out (Tasks/arith), held-out greedy accuracy, GRPO
# with the arith rule set (format + answer, and `worked`, a weight-0 diagnostic
# of the share that works it out), accuracy again; then where the traces are
# and three commands to inspect them, and SVG plots of the run. Both
# evaluations also sample 8 completions a task (pass@8). The last line is one
# JSON object. `make demo-code` runs the same pipeline on arith-code with its
# rule set (a Python block's printed answer, run in the sandbox, or an answer
# in words).
# GRPO runs at a constant learning rate with adam_beta2 0.99, as the demo was
# measured with (the defaults are transformers': linear decay, 0.999).
#   $(call pipeline,run name,task set,rule to inspect,SFT flags,GRPO flags)
define pipeline
	@set -euo pipefail; start=$$(date +%s.%N); out=runs/$(1); rm -rf $$out $$out.sqlite* $$out.metrics.jsonl; \
	$(BIN) init-model --shape tiny --out $$out/init --seed $(SEED); \
	$(BIN) sft --task_set $(2) --model $$out/init --output_dir $$out/sft --save_steps 100000 --logging_steps 25 $(4); \
	$(BIN) eval --model $$out/sft/final --task_set $(2) --k 8 --json > $$out/sft-eval.json; \
	echo "after SFT: $$(cat $$out/sft-eval.json)"; \
	$(BIN) train --model $$out/sft/final --task_set $(2) --run_name $(1) --output_dir $$out/grpo --db $$out.sqlite \
	  --save_steps 100000 $(5); \
	$(BIN) eval --model $$out/grpo/final --task_set $(2) --k 8 --json > $$out/grpo-eval.json; \
	echo "after GRPO: $$(cat $$out/grpo-eval.json)"; \
	echo "traces: $$out.sqlite; try:"; \
	echo "  $(BIN) traces steps --db $$out.sqlite"; \
	echo "  $(BIN) traces samples --db $$out.sqlite --rule $(3) --above 0.5 --order advantage"; \
	echo "  $(BIN) traces sql --db $$out.sqlite \"SELECT step, rule, pass_rate FROM rule_pass_rate WHERE rule = '$(3)' ORDER BY step\""; \
	$(BIN) traces plot --db $$out.sqlite --run $(1) --out $$out/plots > /dev/null; \
	echo "plots (reward, pass rate per rule, completion length; SVG): $$out/plots"; \
	python3 -c 'import json, sys, time; s = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2])); \
	print(json.dumps({"sft_accuracy": s["accuracy"], "grpo_accuracy": g["accuracy"], \
	"sft_pass_at_8": round(s["pass_at_k"], 4), "grpo_pass_at_8": round(g["pass_at_k"], 4), \
	"sft_mean_length": round(s["mean_length"], 2), "grpo_mean_length": round(g["mean_length"], 2), \
	"test_size": g["tasks"], \
	"database": sys.argv[3], "seconds": round(time.time() - float(sys.argv[4]), 1)}))' \
	  $$out/sft-eval.json $$out/grpo-eval.json $$out.sqlite $$start
endef

# SEED=1 make demo: another random start, another order of the data, other samples.
SEED ?= 0
SFT_STEPS ?= 800
GRPO_STEPS ?= 120
demo: build
	$(call pipeline,demo,arith,answer,--max_steps $(SFT_STEPS) --per_device_train_batch_size 32 --learning_rate 2e-3 \
	  --warmup_steps 10 --seed $(SEED),\
	  --max_steps $(GRPO_STEPS) --prompts_per_step 8 --num_generations 8 --learning_rate 2e-5 --temperature 1.0 \
	  --eval_limit 50 --lr_scheduler_type constant --adam_beta2 0.99 --seed $(SEED))

# Program-aided arithmetic: the demonstrations answer from memory or by a Python
# program (Tasks/arith-code); GRPO learns to use the interpreter.
CODE_SFT_STEPS ?= 1000
CODE_GRPO_STEPS ?= 60
demo-code: build
	$(call pipeline,demo-code,arith-code,answer,--max_steps $(CODE_SFT_STEPS) --per_device_train_batch_size 32 \
	  --learning_rate 2e-3 --warmup_steps 10 --seed $(SEED),\
	  --max_steps $(CODE_GRPO_STEPS) --prompts_per_step 8 --num_generations 8 --learning_rate 2e-5 --temperature 1.0 \
	  --eval_limit 50 --lr_scheduler_type constant --adam_beta2 0.99 --seed $(SEED))

# The suite twice: in release (what users run), after checking no line is over 120 columns
# in Sources/ or Tests/, then in a debug build, where every precondition and overflow check
# is on, in the numerics too (Kernels and Policy are still optimized there, see
# Package.swift). The debug pass adds a debug build (about 4 minutes on 2 cores from
# nothing) and 2 minutes of tests.
test: deps test-deps lint
	$(SWIFT) build -c release --product grpo
	$(SWIFT) test -c release --disable-swift-testing
	@$(MAKE) --no-print-directory test-debug

# The whole suite in a debug build, the CLI tests included (they run the debug binary).
test-debug: deps
	$(SWIFT) build --product grpo
	$(SWIFT) test --disable-swift-testing

lint:
	@python3 .ci/long_lines.py Sources Tests

# Formats in place with the repository's .swift-format (120 columns, one statement a line).
format:
	$(SWIFT) format -i -r Sources Tests Package.swift

bench: build
	$(BIN) bench --json

clean:
	rm -rf .build runs
