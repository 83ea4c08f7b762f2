# hostile: five processes holding 100 MB each at once (500 MB), each under a 256 MB limit
# family: many processes each under the per-process limit (memory)
# requires: whole-run limits
# expect: assertion_failed
import os
import time

ready = []
for i in range(5):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            block = bytearray(100 * 1024 * 1024)
            for j in range(0, len(block), 4096):
                block[j] = 1
            os.write(w, b"1")
            time.sleep(2)
        except MemoryError:
            pass
        os._exit(0)
    os.close(w)
    ready.append((pid, r))
held = 0
for pid, r in ready:
    held += len(os.read(r, 1))
    os.close(r)
for pid, r in ready:
    os.waitpid(pid, 0)


def f(x):
    return 3 * x + 2 if held == 5 else 0
