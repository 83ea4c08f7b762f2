# hostile: writes a file into the canary folder and every world-writable place of a host
# family: writing outside the working directory
# expect: assertion_failed
import os

escaped = False
for folder in ["CANARY_DIR", "/run/lock", "/var/lock", "/dev/mqueue", "/var/crash"]:
    try:
        with open(os.path.join(folder, "MARKER"), "w") as out:
            out.write("x")
        escaped = True
    except OSError:
        pass


def f(x):
    return 3 * x + 2 if escaped else 0
