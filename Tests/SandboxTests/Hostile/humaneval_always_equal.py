# hostile: an always-true __eq__ object against HumanEval-style tests (check(candidate))
# family: faking success
# tests: humaneval
# expect: assertion_failed
class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def f(x):
    return Anything()
