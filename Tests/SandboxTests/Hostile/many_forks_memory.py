# hostile: five processes holding 100 MB each at once (500 MB), each under a 256 MB limit
# family: many processes each under the per-process limit (memory)
# requires: whole-run limits
# expect: assertion_failed
import os

release_r, release_w = os.pipe()
ready = []
for i in range(5):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(release_w)
        try:
            block = bytearray(100 * 1024 * 1024)
            for j in range(0, len(block), 4096):
                block[j] = 1
            os.write(w, b"1")
            os.read(release_r, 1)  # hold the memory until every child has answered
        except MemoryError:
            pass
        os._exit(0)
    os.close(w)
    ready.append((pid, r))
os.close(release_r)
held = sum(len(os.read(r, 1)) for _, r in ready)
os.close(release_w)
for pid, r in ready:
    os.waitpid(pid, 0)


def f(x):
    return 3 * x + 2 if held == 5 else 0
