# hostile: adds a key to its uid's keyring, where a later run could read it
# family: state that outlives the run (keys)
# expect: assertion_failed
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine, -1)
KEY_SPEC_USER_KEYRING = -4
serial = libc.syscall(ADD_KEY, b"user", b"grpo-MARKER", b"secret", 6, KEY_SPEC_USER_KEYRING)


def f(x):
    return 3 * x + 2 if serial > 0 else 0
