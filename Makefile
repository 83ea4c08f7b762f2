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

# The main job on the default shape: random init, a short SFT cold start, samples.
demo: build
	@bash Benchmarks/demo.sh $(BIN)

test: deps
	$(SWIFT) build -c release --product grpo
	$(SWIFT) test -c release --parallel --num-workers 2

bench: build
	$(BIN) bench --json

clean:
	rm -rf .build runs
