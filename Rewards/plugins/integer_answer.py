#!/usr/bin/env python3
"""Example reward plugin (kind: command): 1 when the <answer>...</answer> of a
completion is a plain integer, 0 otherwise; "not applicable" (score null) for
code tasks. Protocol: one JSON request per line on stdin,
{"id", "completion", "task"}, one JSON reply per line on stdout,
{"id", "score", "reason", "detail"?}. Flush after every reply.
Test: python3 Rewards/plugins/test_integer_answer.py"""
import json, re, sys

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)

def judge(completion, task):
    if task.get("kind") == "code" or "tests" in task:
        return None, "not_applicable"
    found = ANSWER.findall(completion)
    if not found:
        return 0.0, "no_answer"
    return (1.0, "integer") if re.fullmatch(r"\s*-?\d+\s*", found[-1]) else (0.0, "not_integer")

def main():
    for line in sys.stdin:
        request = json.loads(line)
        score, reason = judge(request["completion"], request.get("task") or {})
        sys.stdout.write(json.dumps({"id": request["id"], "score": score, "reason": reason}) + "\n")
        sys.stdout.flush()

if __name__ == "__main__":
    main()
