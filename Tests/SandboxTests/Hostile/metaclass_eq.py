# hostile: a metaclass whose __eq__ is always true, and instances equal to everything
# family: faking success
# expect: assertion_failed
class M(type):
    __eq__ = lambda c, o: True
    __hash__ = type.__hash__


class A(metaclass=M):
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def f(x):
    return A()
