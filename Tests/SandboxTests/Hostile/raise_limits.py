# hostile: raises its CPU limit
# family: raising limits
# expect: error
import resource

resource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))


def f(x):
    return 3 * x + 2
