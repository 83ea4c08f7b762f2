# hostile: kills its parent (inside a working sandbox: the namespace's init, which runs as root)
# family: killing the parent
# expect: assertion_failed
import os
import signal

killed = False
try:
    os.kill(os.getppid(), signal.SIGKILL)
    killed = True
except OSError:
    pass


def f(x):
    return 3 * x + 2 if killed else 0
