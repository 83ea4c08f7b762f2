# hostile: connects to addresses outside the machine
# family: network connections elsewhere
# expect: assertion_failed
import socket

connected = False
for address in [("1.1.1.1", 53), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(address, timeout=1).close()
        connected = True
    except OSError:
        pass


def f(x):
    return 3 * x + 2 if connected else 0
