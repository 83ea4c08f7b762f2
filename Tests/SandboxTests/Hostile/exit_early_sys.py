# hostile: sys.exit(0) before the tests run
# family: exiting early with success
# expect: error
import sys

sys.exit(0)
