# hostile: grows by 1 MB at a time up to 1 GB (then stops: bounded by itself too)
# family: memory bombs
# expect: error
def grow():
    blocks = []
    for _ in range(1024):
        blocks.append(b"x" * (1 << 20))
    return len(blocks)


held = grow()


def f(x):
    return 3 * x + 2
