# hostile: recursion through C calls until the C stack overflows (the recursion limit raised)
# family: deep recursion
# expect: no_verdict
import sys

sys.setrecursionlimit(10 ** 6)


def down(n):
    return list(map(down, [n + 1]))


down(0)
