# hostile: the right numbers, in an int subclass whose __eq__ is always true
# family: faking success
# expect: assertion_failed
class Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def f(x):
    return Int(3 * x + 2)
