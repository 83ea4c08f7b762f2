# hostile: fills its scratch space with 1 MB files (64 at most)
# family: filling the disk
# expect: error
for i in range(64):
    with open("fill-%d" % i, "wb") as out:
        out.write(b"0" * (1 << 20))
