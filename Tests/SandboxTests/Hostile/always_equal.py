# hostile: the answer is an object whose __eq__ is always true
# family: faking success
# expect: assertion_failed
class Anything:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def f(x):
    return Anything()
