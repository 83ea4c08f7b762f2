# hostile: 40 processes alive at once, each under any per-process limit
# family: many processes each under the per-process limit
# expect: assertion_failed
import os
import time

children = []
for _ in range(40):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)


def f(x):
    return 3 * x + 2 if len(children) == 40 else 0
