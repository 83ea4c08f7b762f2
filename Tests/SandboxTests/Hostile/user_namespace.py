# hostile: creates a user namespace (where it would be root, with new mounts and namespaces)
# family: new user namespaces
# expect: assertion_failed
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
made = libc.unshare(CLONE_NEWUSER) == 0
if not made:
    pid = os.fork() if hasattr(os, "fork") else -1
    if pid == 0:
        os._exit(0 if libc.unshare(CLONE_NEWUSER) == 0 else 1)
    if pid > 0:
        made = os.waitpid(pid, 0)[1] == 0


def f(x):
    return 3 * x + 2 if made else 0
