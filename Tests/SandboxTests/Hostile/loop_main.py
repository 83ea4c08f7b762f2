# hostile: an endless loop in the main thread (it gives up after 60 s by itself)
# family: loops that never end
# expect: timeout
import time

end = time.monotonic() + 60
while time.monotonic() < end:
    pass
