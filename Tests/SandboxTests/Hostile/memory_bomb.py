# hostile: asks for 1 GB at once
# family: memory bombs
# expect: error
block = bytearray(1024 * 1024 * 1024)


def f(x):
    return 3 * x + 2
