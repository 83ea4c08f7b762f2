# hostile: builtins.float, complex, int and type replaced, so a strict check inside the program lies
# family: faking success
# expect: assertion_failed
import builtins


class A:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


builtins.float = A
builtins.complex = A
builtins.int = A
builtins.type = lambda *args: A
builtins.isinstance = lambda *args: True


def f(x):
    return A()
