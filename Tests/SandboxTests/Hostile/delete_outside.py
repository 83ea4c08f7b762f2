# hostile: deletes the canary folder the test made (and its sentinel file)
# family: deleting outside the working directory
# expect: assertion_failed
import os
import shutil

deleted = False
try:
    os.remove("CANARY_DIR/sentinel")
    deleted = True
except OSError:
    pass
try:
    shutil.rmtree("CANARY_DIR")
    deleted = True
except OSError:
    pass


def f(x):
    return 3 * x + 2 if deleted else 0
