# hostile: floods the result channel (640 MB at most)
# family: floods of stdout/stderr
# expect: output_limit
import os

for _ in range(10000):
    os.write(3, b"T\n" * 32768)
