# hostile: floods stdout (640 MB at most)
# family: floods of stdout/stderr
# expect: output_limit
import sys

for _ in range(10000):
    sys.stdout.write("x" * 65536)
