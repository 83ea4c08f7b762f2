#!/usr/bin/env bash
# Parity of `grpo export`, `grpo import` and the BPE tokenizer with transformers and tokenizers
# (Benchmarks/hf_parity.py says what is compared). Builds grpo, and a Python venv with torch,
# transformers and tokenizers unless PY names a Python that has them (about 6 GB, once).
#   bash Benchmarks/hf_parity.sh [--only export,import,mla,bpe] [--checkpoint DIR] ...
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then
  venv="${HF_PARITY_VENV:-${TMPDIR:-/tmp}/swift-grpo-hf-venv}"
  if ! "$venv/bin/python" -c "import torch, transformers, tokenizers" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch transformers tokenizers >&2
  fi
  PY="$venv/bin/python"
fi
swift build -c release --product grpo >&2
# OpenBLAS's kernel as a user's would be (see Benchmarks/side_by_side.sh).
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" Benchmarks/hf_parity.py --grpo .build/release/grpo "$@"
