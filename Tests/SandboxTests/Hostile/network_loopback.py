# hostile: connects to a listener on the host's loopback (HOST_PORT)
# family: network connections to loopback
# expect: assertion_failed
import socket

connected = False
try:
    socket.create_connection(("127.0.0.1", HOST_PORT), timeout=1).close()
    connected = True
except OSError:
    pass


def f(x):
    return 3 * x + 2 if connected else 0
