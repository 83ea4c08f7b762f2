# hostile: /proc tricks: the host's processes, its sysctls, the root of other processes
# (files are opened for writing, never written: a broken sandbox must not change the machine)
# family: /proc tricks
# expect: assertion_failed
import os

reached = False
pids = [p for p in os.listdir("/proc") if p.isdigit()]
if len(pids) > 20:
    reached = True  # more processes than its own: the host's /proc
for path in ["/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"]:
    try:
        os.close(os.open(path, os.O_WRONLY))
        reached = True
    except OSError:
        pass
try:
    os.close(os.open("/proc/1/root/etc/shadow", os.O_RDONLY))
    reached = True
except OSError:
    pass


def f(x):
    return 3 * x + 2 if reached else 0
