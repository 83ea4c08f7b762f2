# hostile: kills the test's canary process (CANARY_PID), a process outside its namespace
# family: killing the parent and other processes
# expect: assertion_failed
import os
import signal

killed = False
try:
    os.kill(CANARY_PID, signal.SIGKILL)
    killed = True
except OSError:
    pass


def f(x):
    return 3 * x + 2 if killed else 0
