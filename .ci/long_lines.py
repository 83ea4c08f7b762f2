#!/usr/bin/env python3
"""Fails on source lines over 120 columns (characters) under the folders given.

`swift format` wraps code at 120 columns (.swift-format); a string literal it cannot break
is split by hand (`+`, or a multi-line string). This check keeps both honest.
"""
import pathlib
import sys

LIMIT = 120
SUFFIXES = {".swift", ".c", ".h"}

bad = 0
for root in sys.argv[1:]:
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if len(line) > LIMIT:
                print(f"{path}:{number}: {len(line)} columns (limit {LIMIT})")
                bad += 1
if bad:
    print(f"{bad} lines over {LIMIT} columns", file=sys.stderr)
sys.exit(1 if bad else 0)
