# hostile: the right answer, and a background thread that never ends (60 s at most)
# family: loops that never end
# expect: timeout
import threading
import time


def spin():
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass


threading.Thread(target=spin, daemon=False).start()


def f(x):
    return 3 * x + 2
