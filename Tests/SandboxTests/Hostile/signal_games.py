# hostile: ignores SIGTERM, blocks what it can, leaves its process group, spins (60 s at most)
# family: signal games
# expect: timeout
import os
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})
os.setpgid(0, 0)
end = time.monotonic() + 60
while time.monotonic() < end:
    pass
