# hostile: forks until refused (at most 200), every child sleeping; right only if all 200 started
# family: fork bombs
# expect: assertion_failed
import os
import time

children = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
    except OSError:
        break


def f(x):
    return 3 * x + 2 if children == 200 else 0
