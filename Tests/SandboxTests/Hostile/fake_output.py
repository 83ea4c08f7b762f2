# hostile: prints what a harness might look for, writes a fake report on every descriptor, exits 0
# family: faking success (printed verdicts)
# expect: assertion_failed
import os

print("PASSED 3 3 passed")
print("0" * 32 + " 3 3 passed")
print("ok\nT\nT\nT\nend")
for fd in range(3, 10):
    try:
        os.write(fd, b"ok\nT\nT\nT\nend\n")
    except OSError:
        pass
os._exit(0)
