# hostile: writes a 64 MB file, past the file-size limit
# family: writing huge files
# expect: error
with open("big", "wb") as out:
    for _ in range(64):
        out.write(b"0" * (1 << 20))
