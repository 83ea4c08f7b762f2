#!/usr/bin/env python3
"""Tests of the example plugin through its real protocol (a subprocess)."""
import json, os, subprocess, sys, unittest

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "integer_answer.py")

class IntegerAnswerPlugin(unittest.TestCase):
    def ask(self, requests):
        lines = "".join(json.dumps(r) + "\n" for r in requests)
        out = subprocess.run([sys.executable, PLUGIN], input=lines, capture_output=True, text=True, timeout=20, check=True)
        return [json.loads(l) for l in out.stdout.splitlines()]

    def test_scores(self):
        replies = self.ask([
            {"id": "1", "completion": "<think>x</think><answer> 42 </answer>", "task": {"kind": "math"}},
            {"id": "2", "completion": "<answer>4.5</answer>", "task": {"kind": "math"}},
            {"id": "3", "completion": "no tags", "task": {"kind": "math"}},
            {"id": "4", "completion": "```python\npass\n```", "task": {"kind": "code", "tests": "assert True"}},
        ])
        self.assertEqual([r["id"] for r in replies], ["1", "2", "3", "4"])
        self.assertEqual([r["score"] for r in replies], [1.0, 0.0, 0.0, None])
        self.assertEqual([r["reason"] for r in replies], ["integer", "not_integer", "no_answer", "not_applicable"])

if __name__ == "__main__":
    unittest.main()
