# hostile: sys.modules edited (a fake builtins module, a fake json)
# family: faking success
# expect: assertion_failed
import sys
import types

fake = types.ModuleType("builtins")
fake.__dict__.update({"isinstance": lambda *a: True, "type": lambda *a: int, "len": lambda *a: 0})
sys.modules["builtins"] = fake
sys.modules["json"] = fake


def f(x):
    return 0
