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

# The main job so far, on the bundled arith set and the default shape: a random
# policy, an SFT cold start (about 2 minutes on 2 cores), then greedy samples
# for held-out prompts. (GRPO joins here once the trainer lands.)
DEMO := runs/demo
demo: build
	$(BIN) init-model --shape tiny --out $(DEMO)/init --seed 0
	$(BIN) sft --data arith --model $(DEMO)/init --output-dir $(DEMO)/sft --max-steps 300 --batch-size 32 \
	  --learning-rate 2e-3 --warmup-steps 10 --logging-steps 25 --save-steps 100
	@for p in "47+85=" "63-28=" "47*36="; do \
	  $(BIN) sample --checkpoint $(DEMO)/sft/final --prompt "$$p" --greedy --stop "</answer>" --max-new-tokens 80; \
	done

test: deps
	$(SWIFT) build -c release --product grpo
	$(SWIFT) test -c release --disable-swift-testing

bench: build
	$(BIN) bench --json

clean:
	rm -rf .build runs
