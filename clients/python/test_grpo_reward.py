"""Checks the clients and every endpoint against a live `grpo serve` (started by the Swift
test suite, Tests/CLITests/ServeTests.swift, with the rule set it writes: `answer` (math)
and `tests` (code, applies_to code)).

    GRPO_SERVE_URL=http://127.0.0.1:PORT GRPO_SERVE_TOKEN=... GRPO_RULES_FILE=rules.yaml \
        python3 test_grpo_reward.py [Endpoints|Hostile|Backpressure]

Expected rewards are worked out by hand from the rule set: 1 for a correct answer or passing
tests, 0 otherwise, null where no rule applies.
"""

import hashlib
import json
import os
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpo_reward  # noqa: E402

URL = os.environ.get("GRPO_SERVE_URL", "http://127.0.0.1:8000")
TOKEN = os.environ.get("GRPO_SERVE_TOKEN")
MARKER = os.environ.get("GRPO_TEST_MARKER", "grpo-serve-test-marker")
CODE_TESTS = "assert f(0) == 2\nassert f(-4) == -10\nassert f(7) == 23"
HONEST = "```python\ndef f(x):\n    return 3 * x + 2\n```"


def call(method, path, body=None, token=TOKEN, raw=None, headers=None):
    """(status, headers, decoded body or text) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    request = urllib.request.Request(URL + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            status, hdrs, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, e.headers, e.read().decode()
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


class Endpoints(unittest.TestCase):
    def test_health_and_ping(self):
        status, _, body = call("GET", "/health", token=None)
        self.assertEqual((status, body["status"]), (200, "ok"))
        self.assertEqual(call("GET", "/v1/ping")[2], "pong")

    def test_token_is_required_and_checked(self):
        status, hdrs, body = call("GET", "/rules", token=None)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", body["error"])
        self.assertEqual(hdrs["WWW-Authenticate"], "Bearer")
        self.assertEqual(call("GET", "/rules", token=TOKEN[:-1] + "x")[0], 401)
        self.assertEqual(call("GET", "/rules?token=" + TOKEN, token=None)[0], 200)

    def test_rules_name_the_loaded_file_and_its_sha256(self):
        status, _, body = call("GET", "/rules")
        self.assertEqual(status, 200)
        with open(os.environ["GRPO_RULES_FILE"], "rb") as f:
            self.assertEqual(body["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertEqual([r["name"] for r in body["rules"]], ["answer", "tests"])
        self.assertEqual(body["rules"][1]["applies_to"], ["code"])

    def test_get_reward_scores_in_order_as_openrlhf_reads_it(self):
        prompts = ["What is 2+2?", "What is 3*3?", "Write f."]
        responses = [" <answer>4</answer>", " <answer>10</answer>", HONEST]
        labels = ["4", "9", json.dumps({"kind": "code", "tests": CODE_TESTS})]
        status, _, body = call(
            "POST", "/get_reward",
            {"query": [p + r for p, r in zip(prompts, responses)], "prompts": prompts, "labels": labels})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["rewards"], [1.0, 0.0, 1.0])
        self.assertEqual(body["scores"], body["rewards"])
        self.assertEqual(body["extra_logs"], {"answer": [1.0, 0.0, 0.0], "tests": [0.0, 0.0, 1.0]})

    def test_bad_requests_get_400_with_a_sentence(self):
        cases = [
            (b"{not json", "not valid JSON"),
            (json.dumps({"query": "x"}).encode(), "query"),
            (json.dumps({"query": ["a", "b"], "labels": ["1"]}).encode(), "same length"),
            (json.dumps({"prompts": ["a"]}).encode(), "\"query\" is missing"),
        ]
        for raw, words in cases:
            status, _, body = call("POST", "/get_reward", raw=raw)
            self.assertEqual(status, 400, raw)
            self.assertIn(words, body["error"], raw)
        status, _, body = call("POST", "/score", {"completions": ["x"], "tasks": ["no-such-task"]})
        self.assertEqual(status, 400)
        self.assertIn("no-such-task", body["error"])
        status, _, body = call("POST", "/score", {"completions": ["x"], "tasks": [{"answer": ["4"]}]})
        self.assertEqual(status, 400)
        self.assertIn("tasks[0].answer", body["error"])

    def test_score_gives_every_rules_verdict(self):
        status, _, body = call("POST", "/score", {
            "completions": ["<answer>4</answer>", "no answer here"],
            "tasks": [{"kind": "math", "answer": "4"}, {"answer": "4"}]})
        self.assertEqual(status, 200, body)
        first, second = body["results"]
        self.assertEqual(first["reward"], 1.0)
        self.assertEqual(first["rules"][0]["reason"], "correct")
        self.assertEqual(first["rules"][1], {
            "name": "tests", "score": None, "reason": "not_applicable", "detail": None, "counted": False,
            "error": False})
        self.assertEqual((second["reward"], second["rules"][0]["reason"]), (0.0, "no_answer"))

    def test_run_code_answers_as_sandbox_fusion(self):
        status, _, body = call("POST", "/run_code", {
            "code": "import sys\nx = int(input())\nprint(x * 2)\nprint('warn', file=sys.stderr)",
            "language": "python", "stdin": "21\n", "run_timeout": 5, "memory_limit_MB": 256,
            "compile_timeout": 5, "files": {}, "fetch_files": []})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "Success")
        run = body["run_result"]
        self.assertEqual((run["status"], run["return_code"], run["stdout"]), ("Finished", 0, "42\n"))
        self.assertEqual(run["stderr"], "warn\n")
        self.assertIsNone(body["compile_result"])
        failed = call("POST", "/run_code", {"code": "raise SystemExit(3)", "language": "python"})[2]
        self.assertEqual((failed["status"], failed["run_result"]["return_code"]), ("Failed", 3))
        slow = call("POST", "/run_code", {"code": "while True: pass", "language": "python", "run_timeout": 1})[2]
        self.assertEqual((slow["status"], slow["run_result"]["status"]), ("Failed", "TimeLimitExceeded"))
        other = call("POST", "/run_code", {"code": "int main(){}", "language": "cpp"})[2]
        self.assertEqual(other["status"], "SandboxError")
        self.assertIn("python", other["message"])

    def test_metrics_count_requests(self):
        call("GET", "/v1/ping")
        text = call("GET", "/metrics")[2]
        self.assertIn('grpo_serve_requests_total{endpoint="/v1/ping",status="200"}', text)
        self.assertIn("grpo_serve_queue_depth", text)
        self.assertIn("grpo_serve_request_seconds_bucket", text)


class Clients(unittest.TestCase):
    def test_verl_compute_score(self):
        self.assertEqual(grpo_reward.compute_score("gsm8k", "so <answer>12</answer>", "12", {}), 1.0)
        self.assertEqual(grpo_reward.compute_score("gsm8k", "so <answer>13</answer>", "12", {}), 0.0)
        code = grpo_reward.compute_score("code", HONEST, {"kind": "code", "tests": CODE_TESTS}, None)
        self.assertEqual(code, 1.0)

    def test_trl_reward_function(self):
        reward = grpo_reward.make_reward_func(URL, TOKEN)
        self.assertEqual(reward.__name__, "grpo_serve")
        rewards = reward(
            prompts=["2+2?", "Write f.", "Say hi."],
            completions=["<answer>4</answer>", HONEST, "hi"],
            answer=["4", None, None], tests=[None, CODE_TESTS, None], trainer_state=object())
        self.assertEqual(rewards, [1.0, 1.0, None])
        chat = reward(
            prompts=[[{"role": "user", "content": "2+2?"}]],
            completions=[[{"role": "assistant", "content": "<answer>5</answer>"}]], answer=["4"])
        self.assertEqual(chat, [0.0])

    def test_client_reports_the_servers_sentence(self):
        with self.assertRaises(grpo_reward.ServeError) as caught:
            grpo_reward.score(["x"], ["no-such-task"], url=URL, token=TOKEN)
        self.assertIn("400", str(caught.exception))
        self.assertIn("no-such-task", str(caught.exception))


class Hostile(unittest.TestCase):
    """A quarter of the code completions hostile: each scores 0, the honest ones 1."""

    def test_hostile_programs_through_get_reward(self):
        hostile = [
            "import os\nwhile True:\n    os.fork()",
            "import time\ntime.sleep(60)",
            "print('x' * 10_000_000)",
            "import os, sys\nif os.fork() == 0:\n    os.setsid()\n    os.execv(sys.executable, "
            "[sys.executable, '-c', 'import time; time.sleep(60)', '%s'])\n" % MARKER,
        ]
        fenced = ["```python\n%s\n```" % h for h in hostile]
        completions = [HONEST] * 12 + fenced
        order = list(range(16))
        order = order[::2] + order[1::2]
        queries = [completions[i] for i in order]
        task = json.dumps({"kind": "code", "tests": CODE_TESTS})
        start = time.time()
        status, _, body = call("POST", "/get_reward", {"query": queries, "labels": [task] * 16})
        self.assertEqual(status, 200, body)
        expected = [1.0 if i < 12 else 0.0 for i in order]
        self.assertEqual(body["rewards"], expected)
        self.assertLess(time.time() - start, 20)


class Backpressure(unittest.TestCase):
    """The server runs with one worker and a queue of one: a second request while one runs is refused."""

    def test_full_queue_answers_503_with_retry_after(self):
        results = {}

        def slow():
            results["slow"] = call("POST", "/run_code", {"code": "import time\ntime.sleep(2)", "run_timeout": 5})

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.7)
        status, hdrs, body = call("POST", "/run_code", {"code": "print(1)"})
        thread.join()
        self.assertEqual(status, 503, body)
        self.assertEqual(hdrs["Retry-After"], "1")
        self.assertIn("queue is full", body["error"])
        self.assertEqual(results["slow"][2]["status"], "Success")
        # Once it is free again, the same request goes through.
        self.assertEqual(call("POST", "/run_code", {"code": "print(1)"})[2]["run_result"]["stdout"], "1\n")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
