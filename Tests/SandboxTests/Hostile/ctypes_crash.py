# hostile: crashes the interpreter (a null pointer read through ctypes)
# family: crashing the interpreter
# expect: no_verdict
import ctypes

ctypes.string_at(0)
