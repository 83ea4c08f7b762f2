# hostile: a double-forked setsid daemon that wakes after the run to write into the canary folder
# family: daemons that detach
# expect: assertion_failed
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.5)
        try:
            with open("CANARY_DIR/daemon-MARKER", "w") as out:
                out.write("alive")
        except OSError:
            pass
        time.sleep(60)
    os._exit(0)


def f(x):
    return 0
