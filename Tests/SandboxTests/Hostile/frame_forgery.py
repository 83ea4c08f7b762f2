# hostile: reads the harness's frames and gc for its secrets and channel, writes a fake
# all-passed report, and exits before the real one
# family: faking success (forged verdict)
# expect: assertion_failed
import gc
import os
import sys


def forge():
    frame = sys._getframe(1)
    while frame is not None:
        scope = frame.f_locals
        if "channel" in scope and "steps" in scope:
            lines = ["ok"] + ["T"] * len(scope["steps"]) + ["end", ""]
            scope["channel"].write("\n".join(lines).encode())
            scope["channel"].flush()
            print("PASSED 3 3 passed")
            sys.stdout.flush()
            os._exit(0)
        frame = frame.f_back
    for obj in gc.get_objects():
        if hasattr(obj, "cell_contents"):
            pass


def f(x):
    forge()
    return 0
