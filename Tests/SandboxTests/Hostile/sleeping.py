# hostile: sleeps past the wall-clock limit
# family: sleeping
# expect: timeout
import time

time.sleep(60)
