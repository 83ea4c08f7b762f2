# hostile: the function under test raises SystemExit(0)
# family: exiting early with success
# expect: error
import sys


def f(x):
    sys.stdout.write("\n")
    raise SystemExit(0)
