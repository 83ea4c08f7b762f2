"""Clients of `grpo serve` for verl and TRL, standard library only.

verl (custom reward function):
    custom_reward_function.path=clients/python/grpo_reward.py
    custom_reward_function.name=compute_score
TRL:
    from grpo_reward import make_reward_func
    GRPOTrainer(..., reward_funcs=[make_reward_func("http://127.0.0.1:8000")])

The server's address comes from the argument, else GRPO_SERVE_URL (default
http://127.0.0.1:8000); the token from the argument, else GRPO_SERVE_TOKEN, else
the file named by GRPO_SERVE_TOKEN_FILE. A task is, in order of preference: a task
id of the server's task set (a `task_id` column or extra_info key), a task object
(a dict ground truth, or `task` column), or a math task whose answer is the ground
truth (`answer`, `solution` or `ground_truth` column).
"""

import json
import os
import time
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000"


class ServeError(RuntimeError):
    """The server refused a request (its sentence is the message), or could not be reached."""


def _token(token):
    if token is not None:
        return token
    if os.environ.get("GRPO_SERVE_TOKEN"):
        return os.environ["GRPO_SERVE_TOKEN"]
    path = os.environ.get("GRPO_SERVE_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    return None


def post(url, path, body, token=None, timeout=120.0, retries=5):
    """POSTs `body` as JSON to url + path and returns the decoded answer. A 503 (queue full) is
    retried after the Retry-After the server asks for, up to `retries` times."""
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    token = _token(token)
    if token:
        headers["Authorization"] = "Bearer " + token
    for attempt in range(retries + 1):
        request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            if e.code == 503 and attempt < retries:
                time.sleep(float(e.headers.get("Retry-After") or 1))
                continue
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise ServeError("%s%s answered %d: %s" % (url, path, e.code, message)) from None
        except urllib.error.URLError as e:
            raise ServeError("cannot reach %s%s: %s" % (url, path, e.reason)) from None
    raise ServeError("%s%s: the queue stayed full after %d retries" % (url, path, retries))


def _task(ground_truth=None, task_id=None, task=None, **columns):
    """The task of one completion, as the server's /score takes it."""
    if task_id is not None:
        return str(task_id)
    if isinstance(task, dict):
        return task
    if isinstance(ground_truth, dict):
        return ground_truth
    if ground_truth is None:
        for key in ("answer", "solution", "ground_truth"):
            if columns.get(key) is not None:
                ground_truth = columns[key]
                break
    fields = {k: columns[k] for k in ("tests", "entry_point", "prompt", "kind") if columns.get(k) is not None}
    if ground_truth is not None:
        fields["answer"] = str(ground_truth)
    return fields


def score(completions, tasks, url=None, token=None, timeout=120.0):
    """Every rule's verdict on each completion: the server's /score results, in order."""
    url = url or os.environ.get("GRPO_SERVE_URL", DEFAULT_URL)
    answer = post(url, "/score", {"completions": list(completions), "tasks": list(tasks)}, token, timeout)
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != len(completions):
        raise ServeError("%s/score answered %r results for %d completions" % (url, results, len(completions)))
    return results


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's reward function: the rule set's reward for one response (0.0 when no rule applies).
    extra_info may name a task id (`task_id`) of the server's task set."""
    extra_info = extra_info or {}
    task = _task(ground_truth=ground_truth, task_id=extra_info.get("task_id"), task=extra_info.get("task"))
    result = score([solution_str], [task], url=kwargs.get("url"), token=kwargs.get("token"))[0]
    reward = result.get("reward")
    return float(reward) if reward is not None else 0.0


def _text(completion):
    """A completion as text: TRL passes strings, or (conversational) lists of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def make_reward_func(url=None, token=None, timeout=120.0, name="grpo_serve"):
    """A TRL reward function calling the server: rewards in order, None where no rule applies
    (TRL leaves those out of the sum). Dataset columns arrive as keyword arguments, one list each."""

    def reward_func(prompts, completions, **kwargs):
        n = len(completions)
        columns = {k: v for k, v in kwargs.items() if isinstance(v, list) and len(v) == n}
        tasks = []
        for i in range(n):
            row = {k: v[i] for k, v in columns.items()}
            if row.get("prompt") is None and prompts is not None:
                row["prompt"] = _text(prompts[i])
            tasks.append(_task(**row))
        results = score([_text(c) for c in completions], tasks, url=url, token=token, timeout=timeout)
        return [r.get("reward") for r in results]

    reward_func.__name__ = name
    return reward_func
