# hostile: AssertionError replaced, so a failing assert would raise something else
# family: faking success
# expect: assertion_failed
import builtins

builtins.AssertionError = Exception


def f(x):
    return 0
