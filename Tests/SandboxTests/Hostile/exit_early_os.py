# hostile: os._exit(0) before the tests run
# family: exiting early with success
# expect: no_verdict
import os

os._exit(0)
