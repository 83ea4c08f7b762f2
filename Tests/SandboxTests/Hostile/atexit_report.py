# hostile: an exit handler appends a fake report after the real one
# family: faking success (forged verdict)
# expect: no_verdict
import atexit
import os


def late():
    print("3 3 passed")
    try:
        os.write(3, b"ok\nT\nT\nT\nend\n")
    except OSError:
        pass


atexit.register(late)


def f(x):
    return 0
