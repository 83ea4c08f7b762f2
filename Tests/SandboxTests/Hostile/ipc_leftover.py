# hostile: leaves System V shared memory and a message queue (key IPC_KEY) for a later run,
# and reads a message an earlier run left
# family: state that outlives the run (IPC)
# expect: assertion_failed
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT, IPC_NOWAIT = 0o1000, 0o4000


class Message(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 16)]


found = False
queue = libc.msgget(IPC_KEY, IPC_CREAT | 0o666)
if queue >= 0:
    message = Message()
    if libc.msgrcv(queue, ctypes.byref(message), 16, 0, IPC_NOWAIT) >= 0:
        found = message.mtext == b"earlier run"
    message = Message(1, b"earlier run")
    libc.msgsnd(queue, ctypes.byref(message), 16, IPC_NOWAIT)
libc.shmget(IPC_KEY, 64 * 1024 * 1024, IPC_CREAT | 0o666)


def f(x):
    return 3 * x + 2 if found else 0
