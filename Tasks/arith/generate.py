#!/usr/bin/env python3
"""Stand-in generator for the bundled `arith` task set (addition of two
numbers up to 3 digits, worked digit by digit). `grpo tasks generate arith`
(Task-set issue) supersedes it; the format is the one that issue fixes:
train/test lines {"id", "prompt", "answer"}, sft lines {"prompt", "completion"}.
Usage: python3 generate.py  (deterministic: seed 1234)"""
import json, random

def working(a, b):
    da, db = str(a)[::-1], str(b)[::-1]
    carry, steps, digits = 0, [], []
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s}")
        digits.append(str(s % 10))
        carry = s // 10
    if carry:
        digits.append(str(carry))
    return " ".join(steps), "".join(reversed(digits))

rng = random.Random(1234)
pairs = set()
while len(pairs) < 3400:
    pairs.add((rng.randint(0, 999), rng.randint(0, 999)))
pairs = sorted(pairs)
rng.shuffle(pairs)
test, train = pairs[:200], pairs[200:]
template = "{a}+{b}="
def row(i, split, a, b):
    return {"id": f"arith-{split}-{i}", "prompt": template.format(a=a, b=b), "answer": str(a + b)}
with open("train.jsonl", "w") as f:
    for i, (a, b) in enumerate(train[:1200]):
        f.write(json.dumps(row(i, "train", a, b)) + "\n")
with open("test.jsonl", "w") as f:
    for i, (a, b) in enumerate(test):
        f.write(json.dumps(row(i, "test", a, b)) + "\n")
with open("sft.jsonl", "w") as f:
    for i, (a, b) in enumerate(train[1200:]):
        steps, result = working(a, b)
        assert int(result) == a + b
        f.write(json.dumps({"id": f"arith-sft-{i}", "prompt": template.format(a=a, b=b),
                            "completion": f"<think>{steps}</think><answer>{result}</answer>"}) + "\n")
